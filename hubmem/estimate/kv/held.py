"""Tokens and bytes each cache layer holds at a context, per engine view (transformers or vLLM paged)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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


@dataclass
class Evaluation:
    by_kind: dict[str, LayerKindKV]
    kv_bytes: int  # per sequence
    state_bytes: int  # per sequence


def aggregate(
    layers: Iterable[CacheLayer], tokens: dict[int, int], bytes_: dict[int, int], padding: dict[str, int]
) -> dict[str, LayerKindKV]:
    out: dict[str, LayerKindKV] = {}
    indices: dict[str, set[int]] = {}
    for n, layer in enumerate(layers):
        entry = out.get(layer.key)
        if entry is None:
            entry = out[layer.key] = LayerKindKV(
                layers=0,
                bytes_per_token=0,
                tokens_held=0,
                bytes=0,
                window=layer.window,
                formula=layer.formula,
            )
            indices[layer.key] = set()
        indices[layer.key].add(layer.index)
        entry.layers = len(indices[layer.key])
        entry.bytes_per_token += layer.per_token
        entry.tokens_held = max(entry.tokens_held, tokens.get(n, 0))
        entry.bytes += bytes_.get(n, 0)
        entry.state_bytes_per_sequence += layer.state_bytes
        if layer.window is not None and (entry.window is None or layer.window > entry.window):
            entry.window = layer.window
    for key, pad in padding.items():
        if key in out:
            out[key].padding_layers = pad
    return out


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
