"""Tokens and bytes each cache layer holds at a context, per engine view (transformers or vLLM paged)."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from hubmem.estimate.kv.plan import CacheLayer, CachePlan
from hubmem.schema.kv import LayerKindKV


def _tokens_held_transformers(layer: CacheLayer, context: int, cache: str) -> int:
    if layer.fixed_tokens is not None:
        return layer.fixed_tokens
    if layer.state is not None or layer.vllm_type == "none":
        return 0
    if layer.window is None:
        return context
    if cache == "dynamic":
        return min(context, max(layer.window - 1, 0))
    return min(layer.window, context)


class Evaluation(msgspec.Struct):
    by_kind: dict[str, LayerKindKV]
    kv_bytes: int  # per sequence
    state_bytes: int  # per sequence


class _KindSums(msgspec.Struct):
    """One layer kind's sums while the layers are walked (a LayerKindKV is built once, at the end)."""

    window: int | None
    formula: str | None
    indices: set[int]
    per_token: int = 0
    tokens_held: int = 0
    bytes: int = 0
    state_bytes: int = 0


def aggregate(
    layers: Iterable[CacheLayer], tokens: dict[int, int], bytes_: dict[int, int], padding: dict[str, int]
) -> dict[str, LayerKindKV]:
    sums: dict[str, _KindSums] = {}
    for n, layer in enumerate(layers):
        s = sums.get(layer.key)
        if s is None:
            s = sums[layer.key] = _KindSums(layer.window, layer.formula, set())
        s.indices.add(layer.index)
        s.per_token += layer.per_token
        s.tokens_held = max(s.tokens_held, tokens.get(n, 0))
        s.bytes += bytes_.get(n, 0)
        s.state_bytes += layer.state_bytes
        if layer.window is not None and (s.window is None or layer.window > s.window):
            s.window = layer.window
    return {
        key: LayerKindKV(
            layers=len(s.indices),
            bytes_per_token=s.per_token,
            tokens_held=s.tokens_held,
            bytes=s.bytes,
            state_bytes_per_sequence=s.state_bytes,
            window=s.window,
            padding_layers=padding.get(key, 0),
            formula=s.formula,
        )
        for key, s in sums.items()
    }


def transformers_view(plan: CachePlan, context: int, cache: str) -> Evaluation:
    """Tokens and bytes each layer holds in transformers' cache (DynamicCache or StaticCache)."""
    tokens: dict[int, int] = {}
    bytes_: dict[int, int] = {}
    kv = state = 0
    for n, layer in enumerate(plan.layers):
        t = _tokens_held_transformers(layer, context, cache)
        tokens[n] = t
        b = t * layer.per_token + layer.state_bytes
        bytes_[n] = b
        kv += t * layer.per_token
        state += layer.state_bytes
    return Evaluation(aggregate(plan.layers, tokens, bytes_, {}), kv, state)
