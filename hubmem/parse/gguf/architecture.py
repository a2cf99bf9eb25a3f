"""GGUF header -> :class:`~hubmem.schema.architecture.Architecture`, with llama.cpp's defaults
(``llama_model::load_hparams``, src/llama-model.cpp:1370-1470 @ 0c1e570): ``head_count_kv`` defaults to
``head_count`` and may be one value per layer; ``key_length`` / ``value_length`` default to
``embedding_length / head_count``; the vocabulary is the length of ``tokenizer.ggml.tokens`` (else
``<arch>.vocab_size``, else the rows of ``token_embd.weight``); MLA when ``attention.kv_lora_rank`` is set
(the cached latent is ``kv_lora_rank + rope.dimension_count`` wide, one KV head)."""

from __future__ import annotations

from collections import Counter

from hubmem.formats.gguf.header import GGUFHeader
from hubmem.parse.gguf.keys import GGUFKeys
from hubmem.parse.gguf.layers import layer_layout
from hubmem.schema.architecture import (
    Architecture,
    LinearAttentionConfig,
    MambaConfig,
    MLAConfig,
    ShortConvConfig,
)

_FILE_TYPE_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


def _common(values: list[int] | None) -> int | None:
    """The most common non-zero per-layer value (the model-wide figure of a per-layer array)."""
    nonzero = [v for v in values or [] if v]
    return Counter(nonzero).most_common(1)[0][0] if nonzero else None


def _vocab(keys: GGUFKeys, header: GGUFHeader) -> int | None:
    tokens = keys.count("tokenizer.ggml.tokens")
    if tokens:
        return tokens
    vocab = keys.get_int("vocab_size")
    if vocab:
        return vocab
    embd = next((t for t in header.tensors if t.name == "token_embd.weight"), None)
    return embd.ne[1] if embd is not None and len(embd.ne) == 2 else None


def _mla(keys: GGUFKeys, n_head: int | None) -> MLAConfig | None:
    kv_lora = keys.get_int("attention.kv_lora_rank")
    if not kv_lora:
        return None
    rope = keys.get_int("rope.dimension_count") or 0
    key_mla = keys.get_int("attention.key_length_mla")
    return MLAConfig(
        kv_lora_rank=kv_lora,
        qk_rope_head_dim=rope,
        qk_nope_head_dim=None if key_mla is None else key_mla - rope,
        v_head_dim=keys.get_int("attention.value_length_mla"),
        q_lora_rank=keys.get_int("attention.q_lora_rank"),
        num_heads=n_head,
    )


def _recurrent(arch: Architecture, keys: GGUFKeys, kinds: list[str]) -> None:
    """The Mamba / short-conv / gated-DeltaNet dimensions the recurrent layers use (llama.cpp ``ssm.*``)."""
    d_conv, d_inner, d_state = (
        keys.get_int("ssm.conv_kernel"),
        keys.get_int("ssm.inner_size"),
        keys.get_int("ssm.state_size"),
    )
    dt_rank, groups = keys.get_int("ssm.time_step_rank"), keys.get_int("ssm.group_count")
    if ("mamba" in kinds or "mamba2" in kinds) and d_conv and d_inner and d_state:
        v2 = "mamba2" in kinds
        heads = dt_rank if v2 else None
        arch.mamba = MambaConfig(
            version=2 if v2 else 1,
            intermediate_size=d_inner,
            state_size=d_state,
            conv_kernel=d_conv,
            num_heads=heads,
            head_dim=d_inner // heads if heads else None,
            n_groups=groups or 1,
        )
    l_cache = keys.get_int("shortconv.l_cache")
    if "conv" in kinds and l_cache and arch.hidden_size:
        arch.short_conv = ShortConvConfig(dim=arch.hidden_size, conv_kernel=l_cache)
    if "linear" in kinds and d_conv and d_inner and d_state and dt_rank and groups:
        arch.linear_attention = LinearAttentionConfig(
            num_key_heads=groups,
            num_value_heads=dt_rank,
            key_head_dim=d_state,
            value_head_dim=d_inner // dt_rank,
            conv_kernel=d_conv,
        )


def _dtype(header: GGUFHeader) -> tuple[str | None, str | None]:
    label = header.file_type_label
    if label in _FILE_TYPE_DTYPES:
        return _FILE_TYPE_DTYPES[label], "gguf:general.file_type"
    return None, None


def _missing(arch: Architecture, kinds: list[str]) -> list[str]:
    missing = []
    for value, what in (
        (arch.num_layers, "num_layers: no <arch>.block_count"),
        (arch.hidden_size, "hidden_size: no <arch>.embedding_length"),
        (arch.vocab_size, "vocab_size: no tokenizer.ggml.tokens, <arch>.vocab_size or token_embd.weight"),
    ):
        if value is None:
            missing.append(what)
    if any(k in ("full", "sliding", "chunked") for k in kinds) and not arch.head_dim:
        missing.append("head_dim: no <arch>.attention.key_length and no head count")
    if "unknown" in kinds:
        missing.append(f"{arch.model_type}: recurrent state not modelled")
    return missing


def architecture_from_gguf(header: GGUFHeader) -> Architecture:
    """The architecture of the model whose first (or only) GGUF file has ``header``."""
    keys = GGUFKeys(header)
    n_layer = keys.get_int("block_count") or 0
    hidden = keys.get_int("embedding_length")
    heads = keys.per_layer("attention.head_count", n_layer)
    kv_heads = keys.per_layer("attention.head_count_kv", n_layer) or heads
    n_head = _common(heads)
    mla = _mla(keys, n_head)
    layout = layer_layout(keys, n_layer, kv_heads, mla is not None)
    head_k = keys.get_int("attention.key_length") or (hidden // n_head if hidden and n_head else None)
    head_v = keys.get_int("attention.value_length") or head_k
    swa_k = keys.get_int("attention.key_length_swa")
    ff = keys.per_layer("feed_forward_length", n_layer)
    varied_kv = kv_heads is not None and len({h for h in kv_heads if h}) > 1
    dtype, dtype_source = _dtype(header)
    arch = Architecture(
        model_type=keys.arch or None,
        num_layers=n_layer or None,
        hidden_size=hidden,
        num_attention_heads=n_head,
        num_kv_heads=1 if mla is not None else _common(kv_heads),
        head_dim=(mla.kv_lora_rank + mla.qk_rope_head_dim) if mla is not None else head_k,
        v_head_dim=None if mla is not None else head_v,
        intermediate_size=_common(ff),
        vocab_size=_vocab(keys, header),
        max_context=keys.get_int("context_length"),
        max_context_key=f"gguf:{keys.full('context_length')}",
        dtype=dtype,
        dtype_source=dtype_source,
        tie_word_embeddings=not any(t.name == "output.weight" for t in header.tensors),
        sliding_window=layout.window if "sliding" in layout.kinds else None,
        attention_chunk_size=layout.window if "chunked" in layout.kinds else None,
        layer_kinds=layout.kinds,
        layer_kinds_source=layout.source,
        layer_kv_heads=kv_heads if varied_kv else None,
        layer_head_dims=[swa_k if k == "sliding" else head_k or 0 for k in layout.kinds] if swa_k else None,
        num_experts=keys.get_int("expert_count") or None,
        experts_per_token=keys.get_int("expert_used_count") or None,
        shared_experts=keys.get_int("expert_shared_count"),
        moe_intermediate_size=keys.get_int("expert_feed_forward_length"),
        shared_expert_intermediate_size=keys.get_int("expert_shared_feed_forward_length"),
        first_dense_layers=keys.get_int("leading_dense_block_count"),
        mtp_layers=keys.get_int("nextn_predict_layers") or 0,
        mla=mla,
        notes=[*layout.notes, f"read from the GGUF metadata ({header.file or 'GGUF file'})"],
    )
    _recurrent(arch, keys, layout.kinds)
    arch.missing.extend(_missing(arch, layout.kinds) + keys.problems)
    return arch
