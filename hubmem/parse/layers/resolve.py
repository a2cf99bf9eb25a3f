"""Per-layer attention kinds (docs/theory.md 1.3): which layers cache what.

Priority (spec): structural per-layer descriptions (Nemotron-NAS ``block_configs``) -> an explicit
``layer_types`` list (or ``layers_block_type`` list) -> family rules -> uniform. The first rule in
:data:`LAYER_RULES` that applies decides; model-wide adjustments follow (cross-attention, MLA, shared
KV, ``per_layer_config``). A layer whose kind cannot be told is ``"unknown"`` and named in ``missing``;
nothing is guessed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from hubmem.parse.layers.descriptions import (
    hybrid_override_pattern,
    layer_type_names,
    minimax_attn_types,
    nemotron_nas_blocks,
)
from hubmem.parse.layers.families import (
    encoder_decoder_full,
    gemma2_alternating,
    gpt_oss_alternating,
    jamba_zamba_period,
    lfm2_full_attn_idxs,
    llama4_chunked,
    mamba_only,
    mllama_cross_layers,
    qwen2_max_window_layers,
    qwen3_next_interval,
    recurrent_without_rule,
    sliding_window_pattern,
)
from hubmem.parse.layers.plan import LayerFacts, LayerPlan, uniform_plan
from hubmem.parse.reader import Reader

LayerRule = Callable[[Reader, LayerFacts], LayerPlan | None]
_T = TypeVar("_T")


def _encoder_only(r: Reader, facts: LayerFacts) -> LayerPlan | None:
    return uniform_plan(facts) if facts.encoder_only else None


def _uniform(r: Reader, facts: LayerFacts) -> LayerPlan | None:
    return uniform_plan(facts)


# In priority order; the first plan returned wins (the last rule always returns one).
LAYER_RULES: tuple[LayerRule, ...] = (
    _encoder_only,
    nemotron_nas_blocks,
    layer_type_names,
    hybrid_override_pattern,
    minimax_attn_types,
    mamba_only,
    jamba_zamba_period,
    qwen3_next_interval,
    gemma2_alternating,
    sliding_window_pattern,
    gpt_oss_alternating,
    llama4_chunked,
    qwen2_max_window_layers,
    encoder_decoder_full,
    lfm2_full_attn_idxs,
    mllama_cross_layers,
    recurrent_without_rule,
    _uniform,
)


def resolve_layer_plan(r: Reader, facts: LayerFacts) -> LayerPlan:
    """Decide the kind of every layer from the text config ``r``."""
    plan = _first_plan(r, facts)
    n = facts.num_layers
    if facts.encoder_decoder:
        # every decoder attention layer also cross-attends to the encoder output
        plan.cross_layers = [
            i for i, k in enumerate(plan.kinds) if k in ("full", "sliding", "chunked", "mla")
        ]
    if facts.is_mla:
        _mla_layers(plan)
    if len(plan.kinds) != n:
        _fit_layer_count(plan, n)
    _shared_kv_layers(r, plan, n)
    _apply_per_layer_config(r, plan, n)
    _check_windows(plan, facts)
    return plan


def _first_plan(r: Reader, facts: LayerFacts) -> LayerPlan:
    for rule in LAYER_RULES:
        plan = rule(r, facts)
        if plan is not None:
            return plan
    raise AssertionError("the uniform rule always decides")


def _mla_layers(plan: LayerPlan) -> None:
    """An MLA model's attention layers are MLA whatever rule named them."""
    plan.kinds = ["mla" if k == "full" else k for k in plan.kinds]
    if "sliding" in plan.kinds or "chunked" in plan.kinds:
        plan.missing.append("layer kinds: sliding/chunked MLA layers are not modelled")


def _fit_layer_count(plan: LayerPlan, n: int) -> None:
    """A description of the wrong length: cut, or pad with unknown layers."""
    plan.missing.append(f"layer kinds: {plan.source} describes {len(plan.kinds)} layers, config has {n}")
    plan.kinds = (plan.kinds + ["unknown"] * n)[:n]
    if plan.kv_heads is not None:
        plan.kv_heads = (plan.kv_heads + [0] * n)[:n]
    if plan.head_dims is not None:
        plan.head_dims = (plan.head_dims + [0] * n)[:n]
    if plan.windows is not None:
        plan.windows = (plan.windows + [None] * n)[:n]


def _shared_kv_layers(r: Reader, plan: LayerPlan, n: int) -> None:
    """Layers that reuse another layer's KV (Gemma 3n) keep no cache of their own."""
    shared = r.get_int("num_kv_shared_layers", minimum=0) or 0
    if 0 < shared <= n:
        for i in range(n - shared, n):
            plan.kinds[i] = "none"
        plan.notes.append(
            f"last {shared} layers reuse earlier layers' KV (num_kv_shared_layers): no cache of their own"
        )


def _apply_per_layer_config(r: Reader, plan: LayerPlan, n: int) -> None:
    """transformers 5 heterogeneous configs: ``per_layer_config`` = {layer index: attribute overrides}."""
    plc = r.get_dict("per_layer_config")
    if not plc:
        return
    for key, overrides in plc.items():
        i = _override_index(key, overrides, n, plan.missing)
        if i is None:
            continue
        sub = Reader(overrides, where=f"per_layer_config.{key}.", problems=plan.missing)
        if (kv := sub.get_int("num_key_value_heads")) is not None:
            plan.kv_heads = _set_layer(plan.kv_heads, n, i, kv, fill=-1)
        if (hd := sub.get_int("head_dim")) is not None:
            plan.head_dims = _set_layer(plan.head_dims, n, i, hd, fill=-1)
        if (sw := sub.get_int("sliding_window")) is not None:
            plan.windows = _set_layer(plan.windows, n, i, sw, fill=None)
    plan.notes.append("per_layer_config overrides applied")


def _override_index(key: str, overrides: object, n: int, missing: list[str]) -> int | None:
    """The layer a ``per_layer_config`` entry overrides, or None (named in ``missing``) when it is not one."""
    try:
        i = int(key)
    except (TypeError, ValueError):
        missing.append(f"per_layer_config: layer key {key!r} is not an index")
        return None
    if not 0 <= i < n or not isinstance(overrides, dict):
        missing.append(f"per_layer_config[{key!r}]: out of range or not an object")
        return None
    return i


def _set_layer(values: list[_T] | None, n: int, i: int, value: _T, *, fill: _T) -> list[_T]:
    """``values`` (created as ``n`` x ``fill`` when None) with layer ``i`` set to ``value``."""
    out = values if values is not None else [fill] * n
    out[i] = value
    return out


def _check_windows(plan: LayerPlan, facts: LayerFacts) -> None:
    """Sliding / chunked layers need a window; the model-wide window is the config's unless layers slide."""
    if "sliding" in plan.kinds and plan.sliding_window is None and plan.windows is None:
        plan.missing.append("sliding_window: sliding layers but no window size")
    if "chunked" in plan.kinds and plan.attention_chunk_size is None:
        plan.missing.append("attention_chunk_size: chunked layers but no chunk size")
    if "sliding" not in plan.kinds:
        plan.sliding_window = facts.sliding_window
