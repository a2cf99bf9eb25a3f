"""Layer kinds from config keys that describe every layer (docs/theory.md 1.3, first in priority).

Nemotron-NAS ``block_configs``, a ``layer_types`` / ``layers_block_type`` list of names, Nemotron-H's
``hybrid_override_pattern`` string and MiniMax's ``attn_type_list``. Each rule returns None when its key
is absent, so the next rule is asked.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from hubmem.parse.layers.plan import LayerFacts, LayerPlan
from hubmem.parse.reader import MAX_LAYERS, Reader, positive_int

# transformers layer_types vocabulary (cache_utils LAYER_TYPE_MAPPINGs, legacy remaps, Nemotron-H lists),
# by what the name says; "attention" becomes "mla" on an MLA model, "recurrent" the model's mixer kind.
_VOCABULARY: dict[str, set[str]] = {
    "attention": {"full_attention", "attention", "global", "global_attention", "full", "*"},
    "sliding": {"sliding_attention", "sliding", "local", "local_attention", "sliding_window"},
    "chunked": {"chunked_attention", "chunked"},
    "indexed": {"indexed_attention", "deepseek_sparse_attention"},
    "recurrent": {"linear_attention", "mamba", "mamba2", "m"},
    "hybrid": {"hybrid", "hybrid_sliding"},
    "conv": {"conv"},
    "none": {"moe", "mlp", "dense", "dummy", "-", "e", "none"},
    "cross": {"cross_attention", "cross"},
}
_MEANING = {name: meaning for meaning, names in _VOCABULARY.items() for name in names}


def nemotron_nas_blocks(r: Reader, facts: LayerFacts) -> LayerPlan | None:
    """DeciLM / Nemotron-NAS block_configs: per-layer no_op / replace_with_linear / n_heads_in_group."""
    blocks = r.get_list("block_configs")
    if blocks is None:
        return None
    plan = facts.plan([], "block_configs (Nemotron-NAS)")
    kv_heads: list[int] = []
    windows: list[int | None] = []
    for i, block in enumerate(blocks):
        layer = _nas_layer(i, block, facts.num_attention_heads)
        plan.kinds.append(layer.kind)
        kv_heads.append(layer.kv_heads)
        windows.append(layer.window)
        if layer.problem:
            plan.missing.append(layer.problem)
    plan.kv_heads = kv_heads
    none = sum(1 for k in plan.kinds if k == "none")
    if none:
        plan.notes.append(
            f"{none} of {len(blocks)} layers have no attention (no_op / replace_with_linear): no KV"
        )
    plan.windows = None if all(w is None for w in windows) else windows
    return plan


class _NasLayer(NamedTuple):
    kind: str
    kv_heads: int
    window: int | None = None
    problem: str | None = None


def _nas_layer(i: int, block: Any, nh: int | None) -> _NasLayer:
    attn = block.get("attention") if isinstance(block, dict) else None
    if not isinstance(attn, dict):
        return _NasLayer("unknown", 0, problem=f"block_configs[{i}].attention: not an object")
    if attn.get("no_op") is True or attn.get("replace_with_linear") is True:
        # no attention at all (no_op) or a plain linear layer in its place: no KV either way
        return _NasLayer("none", 0)
    raw_group = attn.get("n_heads_in_group")
    group = positive_int(raw_group)
    if group is None or nh is None:
        problem = f"block_configs[{i}].attention.n_heads_in_group: {raw_group!r} (KV heads unknown)"
        return _NasLayer("unknown", 0, problem=problem)
    if (window := positive_int(attn.get("window_length"))) is not None:
        return _NasLayer("sliding", nh // group, window)
    return _NasLayer("full", nh // group)


def layer_type_names(r: Reader, facts: LayerFacts) -> LayerPlan | None:
    """An explicit list of layer type names: ``layer_types``, else ``layers_block_type``."""
    for key in ("layer_types", "layers_block_type"):
        names = r.get_str_list(key)
        if names is not None:
            return _from_names(names, facts, key)
    return None


def _from_names(names: list[str], facts: LayerFacts, source: str) -> LayerPlan:
    plan = facts.plan([], source)
    for i, name in enumerate(names):
        plan.kinds.append(_kind_of_name(name, facts, plan, i))
    unknown = sorted({n for n, k in zip(names, plan.kinds, strict=True) if k == "unknown"})
    if unknown:
        plan.missing.append(f"layer kinds: unrecognised layer type(s) {unknown} in {source}")
    return plan


def _kind_of_name(name: str, facts: LayerFacts, plan: LayerPlan, index: int) -> str:
    t = name.strip().lower()
    meaning = _MEANING.get(t, "unknown")
    if meaning in ("attention", "indexed"):
        return "mla" if facts.is_mla else "full"
    if meaning == "recurrent":
        if t in ("mamba", "m") and facts.recurrent_kind in (None, "linear"):
            return "unknown"
        return facts.recurrent_kind or "unknown"
    if meaning == "hybrid":
        return _hybrid_kind(t, facts, plan, index)
    return meaning


def _hybrid_kind(t: str, facts: LayerFacts, plan: LayerPlan, index: int) -> str:
    """Zamba-style: a shared attention block followed by a Mamba block (transformers "hybrid" layers)."""
    if facts.recurrent_kind in ("mamba", "mamba2"):
        plan.hybrid_mamba_layers.append(index)
    elif facts.recurrent_kind is None:
        return "unknown"
    return "sliding" if t == "hybrid_sliding" else "full"


def hybrid_override_pattern(r: Reader, facts: LayerFacts) -> LayerPlan | None:
    """Nemotron-H hybrid_override_pattern: M = Mamba-2, * = attention, - = MLP, E = MoE."""
    pattern = r.get_str("hybrid_override_pattern")
    if pattern is None:
        return None
    if len(pattern) > MAX_LAYERS:
        r.bad("hybrid_override_pattern", pattern, f"one character per layer, at most {MAX_LAYERS:,}")
        return None
    mapping = {"M": facts.recurrent_kind or "unknown", "*": "full", "-": "none", "E": "none"}
    plan = facts.plan([mapping.get(c, "unknown") for c in pattern], "hybrid_override_pattern")
    bad = sorted({c for c in pattern if c not in mapping})
    if bad:
        plan.missing.append(f"layer kinds: hybrid_override_pattern has unrecognised character(s) {bad}")
    if "M" in pattern and facts.recurrent_kind is None:
        plan.missing.append("layer kinds: Mamba layers in hybrid_override_pattern but no Mamba dimensions")
    return plan


def minimax_attn_types(r: Reader, facts: LayerFacts) -> LayerPlan | None:
    """MiniMax-01/M1 attn_type_list: 1 = softmax attention, 0 = lightning (linear) attention."""
    attn_types = r.get_int_list("attn_type_list")
    if attn_types is None:
        return None
    linear = facts.recurrent_kind or "unknown"
    kinds = ["full" if t == 1 else linear if t == 0 else "unknown" for t in attn_types]
    plan = facts.plan(kinds, "attn_type_list (MiniMax)")
    if "unknown" in kinds:
        plan.missing.append("layer kinds: attn_type_list values other than 0/1, or no linear-attention dims")
    return plan
