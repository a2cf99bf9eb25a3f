"""config.json -> normalized :class:`~hubmem.schema.architecture.Architecture` (docs/theory.md section 1).

:func:`parse_config` reads in phases, in the order of docs/theory.md 1.1-1.3 (sources there):

1. the text model's config object and its model type (``text_config``);
2. layer count, hidden size, attention heads and head sizes, MLA included (``layers.counts``,
   ``attention``);
3. recurrent mixers: Mamba, linear attention, short convolutions (``recurrent``);
4. the layers that hold a cache: an encoder-decoder model's decoder layers (``layers.counts``, ``encoder``);
5. every layer's kind (``layers.resolve``);
6. what the cache projection still lacks; context length, activation dtype (``context``, ``dtype``);
7. feed-forward and MoE sizes (``ffn``), quantization settings (``quant``), family-specific keys
   (``family``).

Each quantity is read from the first key variant present (a ``null`` falls through). Never raises for
odd content: a wrong-typed or out-of-range value is named in ``Architecture.missing`` as an invalid value
(its key and value; see ``hubmem.parse.reader`` for the limits) and skipped. Only a config that is not a
JSON object raises ConfigError.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from hubmem.errors import ConfigError
from hubmem.formats.safetensors import Tensor
from hubmem.parse.attention import AttentionDims, read_attention
from hubmem.parse.context import context_invalid, read_max_context, read_rope
from hubmem.parse.dtype import resolve_dtype
from hubmem.parse.encoder import read_vision_encoder
from hubmem.parse.family import read_family
from hubmem.parse.ffn import FeedForward, MoeLayout, read_feed_forward, read_moe_layout
from hubmem.parse.layers.counts import NUM_LAYERS_KEYS, LayerCounts, count_layers, read_num_layers
from hubmem.parse.layers.plan import LayerFacts, LayerPlan
from hubmem.parse.layers.resolve import resolve_layer_plan
from hubmem.parse.quant import read_quant_config, read_quantization
from hubmem.parse.reader import Reader
from hubmem.parse.recurrent import RecurrentMixers, read_recurrent_mixers
from hubmem.parse.text_config import TextConfig, locate_text_config
from hubmem.schema.architecture import Architecture, EncoderConfig, FamilyConfig, QuantConfig, RopeConfig

# Layer kinds that attend with the config's plain KV heads and head_dim (MLA layers cache a latent).
_PLAIN_ATTENTION_KINDS = ("full", "sliding", "chunked", "cross")
HIDDEN_KEYS = ("hidden_size", "n_embd", "d_model", "n_embed")
VOCAB_KEYS = ("vocab_size", "padded_vocab_size")


class _Stack(msgspec.Struct, frozen=True):
    """The layer stack: how many layers, how wide, how they attend or recur, and each layer's kind."""

    counts: LayerCounts
    hidden_size: int | None
    attention: AttentionDims
    mixers: RecurrentMixers
    plan: LayerPlan
    encoder: EncoderConfig | None  # what cross-attention layers read


def parse_config(
    config: dict[str, Any] | None,
    *,
    tensors: Sequence[Tensor] | None = None,
    companions: Mapping[str, Any] | None = None,
) -> Architecture:
    """Normalize a config.json object. ``tensors`` (safetensors headers) only serve the dtype fallback;
    ``companions`` are the small JSON files read beside it (quantize_config.json ...), by path."""
    if config is None:
        return Architecture(
            missing=["config.json: absent; nothing to derive the architecture from"],
            quant=read_quant_config(Reader({}), Reader({}), companions or {}),
        )
    if not isinstance(config, dict):
        raise ConfigError(f"config.json is not a JSON object (got {type(config).__name__})")

    problems: list[str] = []  # wrong-typed values, as every Reader records them
    notes: list[str] = []
    missing: list[str] = []
    tc = locate_text_config(config, problems)
    stack = _read_stack(tc, notes, missing)
    vocab = tc.reader.get_int(*VOCAB_KEYS)
    missing.extend(_missing_sizes(stack, vocab, tc.reader))
    max_ctx, max_ctx_key = read_max_context(tc, notes)
    if max_ctx is None and stack.plan.kinds and not tc.encoder_only and not context_invalid(tc):
        missing.append("max_context: no max_position_embeddings / n_positions / max_seq_len ... key")
    dtype, dtype_source, dtype_problem = resolve_dtype(tc.root, tc.reader, tc.key, config, tensors)
    if dtype_problem:
        missing.append(dtype_problem)
    ffn = read_feed_forward(tc.reader, tc.text_type, hidden=stack.hidden_size, notes=notes)
    tie = _tie_word_embeddings(tc)
    late = _read_late(tc, companions or {})
    missing.extend(p for p in problems if p not in missing)  # last: every reader has been asked
    arch = _architecture(
        tc,
        stack,
        vocab=vocab,
        max_context=(max_ctx, max_ctx_key),
        dtype=(dtype, dtype_source),
        ffn=ffn,
        tie=tie,
        late=late,
        notes=notes,
        missing=missing,
    )
    arch.rope = late.rope
    return arch


class _Late(msgspec.Struct, frozen=True):
    """Phase 7's remaining fields, read before the problems are collected so that theirs are named too."""

    moe: MoeLayout
    quantization_config: dict[str, Any] | None
    family: FamilyConfig
    quant: QuantConfig | None
    rope: RopeConfig


def _read_late(tc: TextConfig, companions: Mapping[str, Any]) -> _Late:
    r = tc.reader
    return _Late(
        moe=read_moe_layout(r),
        quantization_config=read_quantization(tc.root, r),
        family=read_family(r, tc.root, tc.text_type),
        quant=read_quant_config(tc.root, r, companions),
        rope=read_rope(r),
    )


def _read_stack(tc: TextConfig, notes: list[str], missing: list[str]) -> _Stack:
    """Phases 2-5: dimensions, mixers, layer counts and each layer's kind."""
    r = tc.reader
    num_layers = read_num_layers(r)
    hidden = r.get_int(*HIDDEN_KEYS)
    attention = read_attention(tc, hidden, notes)
    mixers = read_recurrent_mixers(r, tc.text_type, hidden, attention.num_heads, attention.head_dim, missing)
    counts = count_layers(tc, num_layers, notes)
    plan = _layer_plan(tc, counts.cache_layers, attention, mixers)
    notes.extend(plan.notes)
    missing.extend(plan.missing)
    if plan.hybrid_mamba_layers and mixers.mamba is None:
        missing.append("hybrid layers carry a Mamba block but the Mamba dimensions are unknown")
    encoder = counts.encoder
    if plan.cross_layers and not tc.encoder_decoder:
        encoder = read_vision_encoder(tc.root)  # Mllama: cross-attention reads the vision encoder's tokens
    return _Stack(
        counts=counts,
        hidden_size=hidden,
        attention=_attention_in_use(attention, plan, mixers, notes),
        mixers=mixers,
        plan=plan,
        encoder=encoder,
    )


def _layer_plan(
    tc: TextConfig, cache_layers: int | None, attention: AttentionDims, mixers: RecurrentMixers
) -> LayerPlan:
    """Each cache-holding layer's kind; without a layer count, no layer is described."""
    r = tc.reader
    sliding = r.get_int("sliding_window")
    chunk = r.get_int("attention_chunk_size")
    if cache_layers is None:
        return LayerPlan(kinds=[], source=None, sliding_window=sliding, attention_chunk_size=chunk)
    facts = LayerFacts(
        model_type=tc.text_type,
        num_layers=cache_layers,
        num_attention_heads=attention.num_heads,
        sliding_window=sliding,
        attention_chunk_size=chunk,
        recurrent_kind=mixers.kind,
        is_mla=attention.mla is not None,
        encoder_only=tc.encoder_only,
        encoder_decoder=tc.encoder_decoder,
    )
    plan = resolve_layer_plan(r, facts)
    # per-layer overrides leave -1 where a layer keeps the model-wide value
    if plan.kv_heads is not None:
        plan.kv_heads = [(attention.num_kv_heads or 0) if v < 0 else v for v in plan.kv_heads]
    if plan.head_dims is not None:
        plan.head_dims = [(attention.head_dim or 0) if v < 0 else v for v in plan.head_dims]
    return plan


def _attends(plan: LayerPlan) -> bool:
    return any(k in _PLAIN_ATTENTION_KINDS for k in plan.kinds)


def _attention_in_use(
    attention: AttentionDims, plan: LayerPlan, mixers: RecurrentMixers, notes: list[str]
) -> AttentionDims:
    """The attention dims as the layers use them: the KV-head assumption is noted only when some layer
    attends, and a recurrent model whose layers never attend has no KV heads at all."""
    if attention.kv_heads_note and _attends(plan):
        notes.append(attention.kv_heads_note)
    if plan.kinds and mixers.kind is not None and not _attends(plan) and attention.mla is None:
        return attention.attention_free()
    return attention


def _missing_sizes(stack: _Stack, vocab: int | None, r: Reader) -> list[str]:
    """The model-wide sizes the projections need but the config does not give. A size whose key holds an
    invalid value is not missing a key: the reader named the key and its value already."""
    head_dim = "head_dim: no head_dim key and hidden_size / num_attention_heads unknown"
    wanted = [
        (
            stack.counts.num_layers,
            NUM_LAYERS_KEYS,
            "num_layers: no num_hidden_layers / n_layer / num_layers key",
        ),
        (stack.hidden_size, HIDDEN_KEYS, "hidden_size: no hidden_size / n_embd / d_model key"),
        (vocab, VOCAB_KEYS, "vocab_size: no vocab_size / padded_vocab_size key"),
    ]
    if _attends(stack.plan):
        wanted.append((stack.attention.num_kv_heads, (), "num_kv_heads: no KV-head or attention-head key"))
        wanted.append((stack.attention.head_dim, (), head_dim))
    return [text for value, keys, text in wanted if value is None and not r.is_invalid(*keys)]


def _tie_word_embeddings(tc: TextConfig) -> bool | None:
    tie = tc.reader.get_bool("tie_word_embeddings")
    if tie is None and tc.reader is not tc.root:
        tie = tc.root.get_bool("tie_word_embeddings")
    return tie


def _architecture(
    tc: TextConfig,
    stack: _Stack,
    *,
    vocab: int | None,
    max_context: tuple[int | None, str | None],
    dtype: tuple[str, str],
    ffn: FeedForward,
    tie: bool | None,
    late: _Late,
    notes: list[str],
    missing: list[str],
) -> Architecture:
    """The assembly."""
    attention, mixers, plan, moe = stack.attention, stack.mixers, stack.plan, late.moe
    return Architecture(
        model_type=tc.model_type,
        architectures=tc.architectures,
        text_config_key=tc.key,
        num_layers=stack.counts.num_layers,
        hidden_size=stack.hidden_size,
        num_attention_heads=attention.num_heads,
        num_kv_heads=attention.num_kv_heads,
        head_dim=attention.head_dim,
        v_head_dim=attention.v_head_dim,
        intermediate_size=ffn.intermediate_size,
        vocab_size=vocab,
        max_context=max_context[0],
        max_context_key=max_context[1],
        dtype=dtype[0],
        dtype_source=dtype[1],
        tie_word_embeddings=tie,
        sliding_window=plan.sliding_window,
        attention_chunk_size=plan.attention_chunk_size,
        layer_kinds=plan.kinds,
        layer_kinds_source=plan.source,
        layer_kv_heads=plan.kv_heads,
        layer_head_dims=plan.head_dims,
        layer_windows=plan.windows,
        cross_attention_layers=plan.cross_layers,
        hybrid_mamba_layers=plan.hybrid_mamba_layers,
        num_experts=ffn.num_experts,
        experts_per_token=ffn.experts_per_token,
        shared_experts=moe.shared_experts,
        moe_intermediate_size=ffn.moe_intermediate_size,
        shared_expert_intermediate_size=moe.shared_expert_intermediate_size,
        first_dense_layers=moe.first_dense_layers,
        mtp_layers=moe.mtp_layers,
        mla=attention.mla,
        mamba=mixers.mamba,
        linear_attention=mixers.linear,
        short_conv=mixers.short_conv,
        encoder=stack.encoder,
        quantization_config=late.quantization_config,
        family=late.family,
        quant=late.quant,
        notes=notes,
        missing=missing,
    )
