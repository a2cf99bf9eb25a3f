"""Layer kinds by family rule (docs/theory.md 1.3), for configs that list no layer kinds.

Each rule follows its transformers configuration class (documented defaults are applied and noted; vLLM
agrees on all of them) and returns None when the model is not of its family, so the next rule is asked.
A rule may change the model-wide ``sliding_window`` / ``attention_chunk_size`` of its plan.
"""

from __future__ import annotations

from hubmem.parse.layers.plan import LayerFacts, LayerPlan
from hubmem.parse.reader import Reader

_MAMBA_ONLY_TYPES = {"mamba": "mamba", "falcon_mamba": "mamba", "mamba2": "mamba2"}
_QWEN2_TYPES = ("qwen2", "qwen2_moe", "qwen3", "qwen3_moe")  # the Qwen2 sliding rule applies unasked


def _alternating(n: int) -> list[str]:
    """Sliding and full layers in turn, layer 0 sliding."""
    return ["sliding" if (i + 1) % 2 else "full" for i in range(n)]


def mamba_only(r: Reader, facts: LayerFacts) -> LayerPlan | None:
    mt = facts.model_type
    if mt not in _MAMBA_ONLY_TYPES:
        return None
    return facts.plan([_MAMBA_ONLY_TYPES[mt]] * facts.num_layers, f"{mt}: every layer is a Mamba mixer")


def jamba_zamba_period(r: Reader, facts: LayerFacts) -> LayerPlan | None:
    """JambaConfig: attention iff i % attn_layer_period == attn_layer_offset (defaults 8, 4); ZambaConfig:
    the same rule (defaults 6, 4) marks "hybrid" layers: shared attention + a Mamba block."""
    mt = facts.model_type
    if mt not in ("jamba", "zamba") and not (
        facts.recurrent_kind in ("mamba", "mamba2") and r.has("attn_layer_period")
    ):
        return None
    zamba = mt == "zamba"
    family = "Zamba" if zamba else "Jamba"
    period = r.get_int("attn_layer_period") or (6 if zamba else 8)
    offset = r.get_int("attn_layer_offset", minimum=0)
    if offset is None:
        offset = 4
    mixer = facts.recurrent_kind or "unknown"
    kinds = ["full" if i % period == offset else mixer for i in range(facts.num_layers)]
    plan = facts.plan(kinds, f"attn_layer_period={period}/attn_layer_offset={offset} ({family})")
    if zamba:
        plan.hybrid_mamba_layers = [i for i, k in enumerate(kinds) if k == "full"]
    if not r.has("attn_layer_period") or not r.has("attn_layer_offset"):
        plan.notes.append(f"{family}Config defaults applied: attn_layer_period={period}, offset={offset}")
    return plan


def qwen3_next_interval(r: Reader, facts: LayerFacts) -> LayerPlan | None:
    if facts.recurrent_kind != "linear" or not facts.model_type.startswith(("qwen3_next", "qwen3_5")):
        return None
    given = r.get_int("full_attention_interval")
    interval = 4 if given is None else given
    kinds = ["linear" if (i + 1) % interval else "full" for i in range(facts.num_layers)]
    plan = facts.plan(kinds, "full_attention_interval (Qwen3-Next)")
    if given is None:
        plan.notes.append("Qwen3NextConfig default full_attention_interval=4 applied")
    return plan


def gemma2_alternating(r: Reader, facts: LayerFacts) -> LayerPlan | None:
    if facts.model_type != "gemma2" or facts.sliding_window is None:
        return None
    return facts.plan(
        _alternating(facts.num_layers), "Gemma 2: layers alternate sliding/full, layer 0 sliding"
    )


def sliding_window_pattern(r: Reader, facts: LayerFacts) -> LayerPlan | None:
    """Gemma 3 / Cohere 2: every ``sliding_window_pattern``-th layer full (defaults 6 / 4), the rest slide."""
    mt = facts.model_type
    if mt not in ("gemma3", "gemma3_text", "cohere2") or facts.sliding_window is None:
        return None
    given = r.get_int("sliding_window_pattern", "_sliding_window_pattern")
    pattern = (4 if mt == "cohere2" else 6) if given is None else given
    kinds = ["sliding" if (i + 1) % pattern else "full" for i in range(facts.num_layers)]
    plan = facts.plan(
        kinds, f"sliding_window_pattern={pattern}: every {pattern}th layer full, the rest sliding"
    )
    if given is None:
        plan.notes.append(f"{mt}: default sliding_window_pattern={pattern} applied")
    return plan


def gpt_oss_alternating(r: Reader, facts: LayerFacts) -> LayerPlan | None:
    if facts.model_type != "gpt_oss":
        return None
    plan = facts.plan(
        _alternating(facts.num_layers), "gpt-oss default: alternate sliding/full, layer 0 sliding"
    )
    if facts.sliding_window is None:
        plan.sliding_window = 128
        plan.notes.append("GptOssConfig default sliding_window=128 applied")
    return plan


def llama4_chunked(r: Reader, facts: LayerFacts) -> LayerPlan | None:
    """Llama 4: RoPE layers attend chunked-local, NoPE layers (every 4th by default) attend globally."""
    if facts.model_type not in ("llama4", "llama4_text"):
        return None
    n = facts.num_layers
    plan = facts.plan([], "")
    if facts.attention_chunk_size is None:
        if r.raw("attention_chunk_size") is None and "attention_chunk_size" in r.data:
            plan.attention_chunk_size = None  # explicitly null: chunked attention off
        else:
            plan.attention_chunk_size = 8192
            plan.notes.append("Llama4TextConfig default attention_chunk_size=8192 applied")
    rope, src = _llama4_rope_layers(r, n, plan.missing)
    if plan.attention_chunk_size is None:
        plan.kinds = ["full"] * n
    else:
        plan.kinds = ["chunked" if rope[i] else "full" for i in range(min(n, len(rope)))]
    plan.source = f"Llama 4: {src}; RoPE layers chunked-local, NoPE layers full"
    return plan


def _llama4_rope_layers(r: Reader, n: int, missing: list[str]) -> tuple[list[int], str]:
    """Per layer 1 = RoPE, 0 = NoPE: ``no_rope_layers``, else every ``no_rope_layer_interval``-th NoPE."""
    rope = r.get_int_list("no_rope_layers")
    if rope:
        if len(rope) != n:
            missing.append(f"no_rope_layers has {len(rope)} entries for {n} layers")
        return rope, "no_rope_layers"
    interval = r.get_int("no_rope_layer_interval") or 4
    rope = [int((i + 1) % interval != 0) for i in range(n)]
    return rope, f"no_rope_layer_interval={interval} (every {interval}th layer NoPE/global)"


def qwen2_max_window_layers(r: Reader, facts: LayerFacts) -> LayerPlan | None:
    """Qwen2 rule: only with use_sliding_window, and only layers >= max_window_layers (default 28) slide."""
    if r.raw("use_sliding_window") is None and facts.model_type not in _QWEN2_TYPES:
        return None
    n = facts.num_layers
    use = r.get_bool("use_sliding_window") or False
    mwl = r.get_int("max_window_layers", minimum=0)
    if not use or facts.sliding_window is None:
        plan = facts.plan(["full"] * n, "use_sliding_window false: full attention (Qwen2 rule)")
        plan.sliding_window = None
        if facts.sliding_window is not None:
            plan.notes.append(
                f"sliding_window={facts.sliding_window} ignored because use_sliding_window is false"
            )
        return plan
    first_sliding = 28 if mwl is None else mwl
    kinds = ["sliding" if i >= first_sliding else "full" for i in range(n)]
    plan = facts.plan(kinds, f"use_sliding_window: layers >= max_window_layers={first_sliding} slide")
    if mwl is None:
        plan.notes.append("Qwen2Config default max_window_layers=28 applied")
    return plan


def encoder_decoder_full(r: Reader, facts: LayerFacts) -> LayerPlan | None:
    if not facts.encoder_decoder:
        return None
    return facts.plan(
        ["full"] * facts.num_layers, "encoder-decoder: decoder self-attention + cross-attention"
    )


def lfm2_full_attn_idxs(r: Reader, facts: LayerFacts) -> LayerPlan | None:
    full_idx = r.get_int_list("full_attn_idxs")
    if full_idx is None or facts.recurrent_kind != "conv":
        return None
    full = set(full_idx)
    kinds = ["full" if i in full else "conv" for i in range(facts.num_layers)]
    return facts.plan(kinds, "full_attn_idxs (LFM2): the rest are short-conv layers")


def mllama_cross_layers(r: Reader, facts: LayerFacts) -> LayerPlan | None:
    cross = r.get_int_list("cross_attention_layers")
    if cross is None:
        return None
    n = facts.num_layers
    cross_set = set(cross)
    plan = facts.plan(
        ["cross" if i in cross_set else "full" for i in range(n)], "cross_attention_layers (Mllama)"
    )
    plan.cross_layers = [i for i in range(n) if i in cross_set]
    return plan


def recurrent_without_rule(r: Reader, facts: LayerFacts) -> LayerPlan | None:
    """A recurrent mixer that no key places: every layer unknown, nothing guessed."""
    if facts.recurrent_kind is None:
        return None
    plan = facts.plan(["unknown"] * facts.num_layers, "no rule")
    plan.missing.append(
        f"layer kinds: {facts.model_type or 'model'} has {facts.recurrent_kind} dimensions but no "
        "layer_types/pattern saying which layers use them"
    )
    return plan
