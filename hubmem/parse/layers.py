"""Per-layer attention kinds (theory.md 1.3): which layers cache what.

Priority (spec): structural per-layer descriptions (Nemotron-NAS ``block_configs``) -> an explicit
``layer_types`` list (or ``layers_block_type`` list) -> family rules -> uniform. Family rules follow
the transformers configuration classes (their defaults are applied and noted); vLLM agrees on all of
them. A layer whose kind cannot be told is ``"unknown"`` and named in ``missing``; nothing is guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hubmem.parse.reader import Reader

# transformers layer_types vocabulary (cache_utils LAYER_TYPE_MAPPINGs, legacy remaps, Nemotron-H lists).
_FULL = {"full_attention", "attention", "global", "global_attention", "full", "*"}
_SLIDING = {"sliding_attention", "sliding", "local", "local_attention", "sliding_window"}
_CHUNKED = {"chunked_attention", "chunked"}
_INDEXED = {"indexed_attention", "deepseek_sparse_attention"}
_RECURRENT = {"linear_attention", "mamba", "mamba2", "m"}
_NONE = {"moe", "mlp", "dense", "dummy", "-", "e", "none"}
_CROSS = {"cross_attention", "cross"}

_MAMBA_ONLY_TYPES = {"mamba": "mamba", "falcon_mamba": "mamba", "mamba2": "mamba2"}


@dataclass
class LayerFacts:
    """What the resolver needs to know about the model besides the raw config."""

    model_type: str
    num_layers: int
    num_attention_heads: int | None
    sliding_window: int | None
    attention_chunk_size: int | None
    recurrent_kind: str | None  # "mamba" | "mamba2" | "linear" | None: what a "linear_attention" layer is
    is_mla: bool
    encoder_only: bool
    encoder_decoder: bool


@dataclass
class LayerPlan:
    kinds: list[str]
    source: str
    kv_heads: list[int] | None = None
    head_dims: list[int] | None = None
    windows: list[int | None] | None = None
    cross_layers: list[int] = field(default_factory=list)
    hybrid_mamba_layers: list[int] = field(default_factory=list)
    sliding_window: int | None = None  # effective model-wide window after family rules (Qwen2 may drop it)
    attention_chunk_size: int | None = None
    notes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _map_type(name: str, facts: LayerFacts, plan: LayerPlan, index: int) -> str:
    t = name.strip().lower()
    if t in _FULL:
        return "mla" if facts.is_mla else "full"
    if t in _SLIDING:
        return "sliding"
    if t in _CHUNKED:
        return "chunked"
    if t in _INDEXED:
        return "mla" if facts.is_mla else "full"
    if t in _RECURRENT:
        if t in ("mamba", "m") and facts.recurrent_kind in (None, "linear"):
            return "unknown"
        return facts.recurrent_kind or "unknown"
    if t in ("hybrid", "hybrid_sliding"):
        # Zamba-style: a shared attention block followed by a Mamba block (transformers "hybrid" layers)
        if facts.recurrent_kind in ("mamba", "mamba2"):
            plan.hybrid_mamba_layers.append(index)
        elif facts.recurrent_kind is None:
            return "unknown"
        return "sliding" if t == "hybrid_sliding" else "full"
    if t == "conv":
        return "conv"
    if t in _NONE:
        return "none"
    if t in _CROSS:
        return "cross"
    return "unknown"


def _from_names(names: list[str], facts: LayerFacts, source: str) -> LayerPlan:
    plan = LayerPlan(kinds=[], source=source)
    for i, name in enumerate(names):
        plan.kinds.append(_map_type(name, facts, plan, i))
    unknown = sorted({n for n, k in zip(names, plan.kinds, strict=True) if k == "unknown"})
    if unknown:
        plan.missing.append(f"layer kinds: unrecognised layer type(s) {unknown} in {source}")
    return plan


def _uniform(facts: LayerFacts, source: str = "uniform") -> LayerPlan:
    n = facts.num_layers
    if facts.encoder_only:
        return LayerPlan(kinds=["encoder"] * n, source="encoder-only model (no KV cache)")
    if facts.is_mla:
        return LayerPlan(kinds=["mla"] * n, source="MLA (kv_lora_rank)")
    if facts.sliding_window is not None:
        return LayerPlan(kinds=["sliding"] * n, source=f"{source}: sliding_window on every layer")
    if facts.attention_chunk_size is not None:
        return LayerPlan(kinds=["chunked"] * n, source=f"{source}: attention_chunk_size on every layer")
    return LayerPlan(kinds=["full"] * n, source=f"{source}: full attention on every layer")


def _nemotron_nas(blocks: list[Any], facts: LayerFacts) -> LayerPlan:
    """DeciLM / Nemotron-NAS block_configs: per-layer no_op / replace_with_linear / n_heads_in_group."""
    plan = LayerPlan(kinds=[], source="block_configs (Nemotron-NAS)", kv_heads=[], windows=[])
    assert plan.kv_heads is not None and plan.windows is not None
    nh = facts.num_attention_heads
    for i, block in enumerate(blocks):
        attn = block.get("attention") if isinstance(block, dict) else None
        if not isinstance(attn, dict):
            plan.kinds.append("unknown")
            plan.kv_heads.append(0)
            plan.windows.append(None)
            plan.missing.append(f"block_configs[{i}].attention: not an object")
            continue
        if attn.get("no_op") is True or attn.get("replace_with_linear") is True:
            # no attention at all (no_op) or a plain linear layer in its place: no KV either way
            plan.kinds.append("none")
            plan.kv_heads.append(0)
            plan.windows.append(None)
            continue
        group = attn.get("n_heads_in_group")
        if isinstance(group, bool) or not isinstance(group, int) or group <= 0 or nh is None:
            plan.kinds.append("unknown")
            plan.kv_heads.append(0)
            plan.windows.append(None)
            plan.missing.append(
                f"block_configs[{i}].attention.n_heads_in_group: {group!r} (KV heads unknown)"
            )
            continue
        plan.kv_heads.append(nh // group)
        window = attn.get("window_length")
        if isinstance(window, int) and not isinstance(window, bool) and window > 0:
            plan.kinds.append("sliding")
            plan.windows.append(window)
        else:
            plan.kinds.append("full")
            plan.windows.append(None)
    none = sum(1 for k in plan.kinds if k == "none")
    if none:
        plan.notes.append(
            f"{none} of {len(blocks)} layers have no attention (no_op / replace_with_linear): no KV"
        )
    if plan.windows is not None and all(w is None for w in plan.windows):
        plan.windows = None
    return plan


def _pattern(pattern: str, facts: LayerFacts) -> LayerPlan:
    """Nemotron-H hybrid_override_pattern: M = Mamba-2, * = attention, - = MLP, E = MoE."""
    mapping = {"M": facts.recurrent_kind or "unknown", "*": "full", "-": "none", "E": "none"}
    plan = LayerPlan(kinds=[mapping.get(c, "unknown") for c in pattern], source="hybrid_override_pattern")
    bad = sorted({c for c in pattern if c not in mapping})
    if bad:
        plan.missing.append(f"layer kinds: hybrid_override_pattern has unrecognised character(s) {bad}")
    if "M" in pattern and facts.recurrent_kind is None:
        plan.missing.append("layer kinds: Mamba layers in hybrid_override_pattern but no Mamba dimensions")
    return plan


def resolve_layer_plan(r: Reader, root: Reader, facts: LayerFacts) -> LayerPlan:
    """Decide the kind of every layer. ``r`` reads the text config, ``root`` the top-level config."""
    n = facts.num_layers
    mt = facts.model_type
    plan: LayerPlan | None = None
    plan_sliding = facts.sliding_window
    plan_chunk = facts.attention_chunk_size

    if facts.encoder_only:
        plan = _uniform(facts)
    elif (blocks := r.get_list("block_configs")) is not None:
        plan = _nemotron_nas(blocks, facts)
    elif (names := r.get_str_list("layer_types")) is not None:
        plan = _from_names(names, facts, "layer_types")
    elif (names := r.get_str_list("layers_block_type")) is not None:
        plan = _from_names(names, facts, "layers_block_type")
    elif (pattern := r.get_str("hybrid_override_pattern")) is not None:
        plan = _pattern(pattern, facts)
    elif (attn_types := r.get_int_list("attn_type_list")) is not None:
        # MiniMax-01/M1: 1 = softmax attention, 0 = lightning (linear) attention
        kinds = [
            "full" if t == 1 else (facts.recurrent_kind or "unknown") if t == 0 else "unknown"
            for t in attn_types
        ]
        plan = LayerPlan(kinds=kinds, source="attn_type_list (MiniMax)")
        if "unknown" in kinds:
            plan.missing.append(
                "layer kinds: attn_type_list values other than 0/1, or no linear-attention dims"
            )
    elif mt in _MAMBA_ONLY_TYPES:
        plan = LayerPlan(kinds=[_MAMBA_ONLY_TYPES[mt]] * n, source=f"{mt}: every layer is a Mamba mixer")
    elif mt in ("jamba", "zamba") or (
        facts.recurrent_kind in ("mamba", "mamba2") and r.has("attn_layer_period")
    ):
        # JambaConfig: attention iff i % attn_layer_period == attn_layer_offset (defaults 8, 4);
        # ZambaConfig: the same rule (defaults 6, 4) marks "hybrid" layers: shared attention + a Mamba block
        family = "Zamba" if mt == "zamba" else "Jamba"
        default_period = 6 if mt == "zamba" else 8
        period = r.get_int("attn_layer_period") or default_period
        offset = r.get_int("attn_layer_offset", minimum=0)
        if offset is None:
            offset = 4
        rk = facts.recurrent_kind or "unknown"
        kinds = ["full" if i % period == offset else rk for i in range(n)]
        plan = LayerPlan(
            kinds=kinds, source=f"attn_layer_period={period}/attn_layer_offset={offset} ({family})"
        )
        if mt == "zamba":
            plan.hybrid_mamba_layers = [i for i in range(n) if kinds[i] == "full"]
        if not r.has("attn_layer_period") or not r.has("attn_layer_offset"):
            plan.notes.append(f"{family}Config defaults applied: attn_layer_period={period}, offset={offset}")
    elif facts.recurrent_kind == "linear" and mt.startswith(("qwen3_next", "qwen3_5")):
        interval = r.get_int("full_attention_interval")
        if interval is None:
            interval = 4
            plan_notes = ["Qwen3NextConfig default full_attention_interval=4 applied"]
        else:
            plan_notes = []
        kinds = ["linear" if (i + 1) % interval else "full" for i in range(n)]
        plan = LayerPlan(kinds=kinds, source="full_attention_interval (Qwen3-Next)", notes=plan_notes)
    elif mt in ("gemma2",) and facts.sliding_window is not None:
        kinds = ["sliding" if (i + 1) % 2 else "full" for i in range(n)]
        plan = LayerPlan(kinds=kinds, source="Gemma 2: layers alternate sliding/full, layer 0 sliding")
    elif mt in ("gemma3", "gemma3_text", "cohere2") and facts.sliding_window is not None:
        default = 4 if mt == "cohere2" else 6
        pat = r.get_int("sliding_window_pattern", "_sliding_window_pattern")
        plan = LayerPlan(kinds=[], source="")
        if pat is None:
            pat = default
            plan.notes.append(f"{mt}: default sliding_window_pattern={default} applied")
        plan.kinds = ["sliding" if (i + 1) % pat else "full" for i in range(n)]
        plan.source = f"sliding_window_pattern={pat}: every {pat}th layer full, the rest sliding"
    elif mt == "gpt_oss":
        if facts.sliding_window is None:
            plan_sliding = 128
        kinds = ["sliding" if (i + 1) % 2 else "full" for i in range(n)]
        plan = LayerPlan(kinds=kinds, source="gpt-oss default: alternate sliding/full, layer 0 sliding")
        if facts.sliding_window is None:
            plan.notes.append("GptOssConfig default sliding_window=128 applied")
    elif mt in ("llama4", "llama4_text"):
        plan = LayerPlan(kinds=[], source="")
        if facts.attention_chunk_size is None:
            if r.raw("attention_chunk_size") is None and "attention_chunk_size" in r.data:
                plan_chunk = None  # explicitly null: chunked attention off
            else:
                plan_chunk = 8192
                plan.notes.append("Llama4TextConfig default attention_chunk_size=8192 applied")
        rope = r.get_int_list("no_rope_layers")
        if rope:
            if len(rope) != n:
                plan.missing.append(f"no_rope_layers has {len(rope)} entries for {n} layers")
            src = "no_rope_layers"
        else:
            interval = r.get_int("no_rope_layer_interval") or 4
            rope = [int((i + 1) % interval != 0) for i in range(n)]
            src = f"no_rope_layer_interval={interval} (every {interval}th layer NoPE/global)"
        if plan_chunk is None:
            plan.kinds = ["full"] * n
        else:
            plan.kinds = ["chunked" if rope[i] else "full" for i in range(min(n, len(rope)))]
        plan.source = f"Llama 4: {src}; RoPE layers chunked-local, NoPE layers full"
    elif r.raw("use_sliding_window") is not None or mt in ("qwen2", "qwen2_moe", "qwen3", "qwen3_moe"):
        use = r.get_bool("use_sliding_window") or False
        mwl = r.get_int("max_window_layers", minimum=0)
        if not use or facts.sliding_window is None:
            plan_sliding = None
            plan = LayerPlan(
                kinds=["full"] * n, source="use_sliding_window false: full attention (Qwen2 rule)"
            )
            if facts.sliding_window is not None:
                plan.notes.append(
                    f"sliding_window={facts.sliding_window} ignored because use_sliding_window is false"
                )
        else:
            if mwl is None:
                mwl = 28
                notes = ["Qwen2Config default max_window_layers=28 applied"]
            else:
                notes = []
            kinds = ["sliding" if i >= mwl else "full" for i in range(n)]
            plan = LayerPlan(
                kinds=kinds,
                source=f"use_sliding_window: layers >= max_window_layers={mwl} slide",
                notes=notes,
            )
    elif facts.encoder_decoder:
        plan = LayerPlan(
            kinds=["full"] * n, source="encoder-decoder: decoder self-attention + cross-attention"
        )
    elif (full_idx := r.get_int_list("full_attn_idxs")) is not None and facts.recurrent_kind == "conv":
        kinds = ["full" if i in set(full_idx) else "conv" for i in range(n)]
        plan = LayerPlan(kinds=kinds, source="full_attn_idxs (LFM2): the rest are short-conv layers")
    elif (cross := r.get_int_list("cross_attention_layers")) is not None:
        kinds = ["cross" if i in set(cross) else "full" for i in range(n)]
        plan = LayerPlan(kinds=kinds, source="cross_attention_layers (Mllama)")
        plan.cross_layers = [i for i in range(n) if i in set(cross)]
    elif facts.recurrent_kind is not None:
        plan = LayerPlan(kinds=["unknown"] * n, source="no rule")
        plan.missing.append(
            f"layer kinds: {mt or 'model'} has {facts.recurrent_kind} dimensions but no layer_types/pattern "
            "saying which layers use them"
        )
    else:
        plan = _uniform(facts)

    # Encoder-decoder: every decoder attention layer also cross-attends to the encoder output.
    if facts.encoder_decoder:
        plan.cross_layers = [
            i for i, k in enumerate(plan.kinds) if k in ("full", "sliding", "chunked", "mla")
        ]

    # An MLA model's attention layers are MLA whatever rule named them.
    if facts.is_mla:
        plan.kinds = ["mla" if k == "full" else k for k in plan.kinds]
        if "sliding" in plan.kinds or "chunked" in plan.kinds:
            plan.missing.append("layer kinds: sliding/chunked MLA layers are not modelled")

    if len(plan.kinds) != n:
        plan.missing.append(f"layer kinds: {plan.source} describes {len(plan.kinds)} layers, config has {n}")
        plan.kinds = (plan.kinds + ["unknown"] * n)[:n]
        for attr in ("kv_heads", "head_dims"):
            values = getattr(plan, attr)
            if values is not None:
                setattr(plan, attr, (values + [0] * n)[:n])
        if plan.windows is not None:
            plan.windows = (plan.windows + [None] * n)[:n]

    # Layers that reuse another layer's KV (Gemma 3n) keep no cache of their own.
    shared = r.get_int("num_kv_shared_layers", minimum=0) or 0
    if 0 < shared <= n:
        for i in range(n - shared, n):
            plan.kinds[i] = "none"
        plan.notes.append(
            f"last {shared} layers reuse earlier layers' KV (num_kv_shared_layers): no cache of their own"
        )

    _apply_per_layer_config(r, plan, n)

    if "sliding" in plan.kinds and plan_sliding is None and plan.windows is None:
        plan.missing.append("sliding_window: sliding layers but no window size")
    if "chunked" in plan.kinds and plan_chunk is None:
        plan.missing.append("attention_chunk_size: chunked layers but no chunk size")
    plan.sliding_window = plan_sliding if "sliding" in plan.kinds else facts.sliding_window
    plan.attention_chunk_size = plan_chunk
    return plan


def _apply_per_layer_config(r: Reader, plan: LayerPlan, n: int) -> None:
    """transformers 5 heterogeneous configs: ``per_layer_config`` = {layer index: attribute overrides}."""
    plc = r.get_dict("per_layer_config")
    if not plc:
        return
    for key, overrides in plc.items():
        try:
            i = int(key)
        except (TypeError, ValueError):
            plan.missing.append(f"per_layer_config: layer key {key!r} is not an index")
            continue
        if not 0 <= i < n or not isinstance(overrides, dict):
            plan.missing.append(f"per_layer_config[{key!r}]: out of range or not an object")
            continue
        sub = Reader(overrides, where=f"per_layer_config.{key}.", problems=plan.missing)
        if (kv := sub.get_int("num_key_value_heads")) is not None:
            if plan.kv_heads is None:
                plan.kv_heads = [-1] * n
            plan.kv_heads[i] = kv
        if (hd := sub.get_int("head_dim")) is not None:
            if plan.head_dims is None:
                plan.head_dims = [-1] * n
            plan.head_dims[i] = hd
        if (sw := sub.get_int("sliding_window")) is not None:
            if plan.windows is None:
                plan.windows = [None] * n
            plan.windows[i] = sw
    plan.notes.append("per_layer_config overrides applied")
