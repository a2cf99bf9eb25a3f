"""config.json -> normalized :class:`~hubmem.schema.Architecture` (theory.md section 1).

Rules, in the order of theory.md 1.1-1.3 (sources there): find the text model's config object; read
each quantity from the first key variant present (a ``null`` falls through); decide every layer's
kind (``parse/layers.py``). Never raises for odd content: a wrong-typed value is named in
``Architecture.missing`` and skipped. Only a config that is not a JSON object raises ConfigError.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hubmem.errors import ConfigError
from hubmem.formats.safetensors import Tensor
from hubmem.parse.dtype import resolve_dtype
from hubmem.parse.family import read_family
from hubmem.parse.fields import (
    MTP_LAYERS_KEYS,
    SHARED_EXPERTS_KEYS,
    find_text_config,
    read_ffn_sizes,
    read_kv_heads,
    read_max_context,
    read_quantization,
)
from hubmem.parse.layers.plan import LayerFacts
from hubmem.parse.layers.resolve import resolve_layer_plan
from hubmem.parse.mixers import read_linear_attention, read_mamba, read_mla
from hubmem.parse.model_types import ENCODER_DECODER_TYPES, ENCODER_ONLY_TYPES, SHORT_CONV_TYPES, T5_LIKE
from hubmem.parse.quant import read_quant_config
from hubmem.parse.reader import Reader
from hubmem.schema.architecture import Architecture, EncoderConfig, ShortConvConfig

MAX_LAYERS = 10_000  # a layer count beyond this is a broken config, not a model


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

    problems: list[str] = []
    notes: list[str] = []
    missing: list[str] = []
    root = Reader(config, problems=problems)
    tc, tc_key = find_text_config(config, problems)
    r = Reader(tc, where=f"{tc_key}." if tc_key else "", problems=problems) if tc_key else root

    model_type = root.get_str("model_type") or r.get_str("model_type")
    text_type = (r.get_str("model_type") or model_type or "").lower()
    architectures = [a for a in (root.get_list("architectures") or []) if isinstance(a, str)]

    encoder_decoder = text_type in ENCODER_DECODER_TYPES or root.get_bool("is_encoder_decoder") is True
    encoder_only = text_type in ENCODER_ONLY_TYPES and not encoder_decoder
    t5_like = text_type in T5_LIKE

    # --- core dims (theory.md 1.2) --------------------------------------------------------------------
    num_layers, layers_key = r.int_(
        "num_hidden_layers", "n_layer", "n_layers", "num_layers", "encoder_layers"
    )
    if num_layers is not None and num_layers > MAX_LAYERS:
        problems.append(f"{layers_key}: {num_layers:,} layers is implausible (> {MAX_LAYERS:,}); ignored")
        num_layers = None
    hidden = r.get_int("hidden_size", "n_embd", "d_model", "n_embed")
    recurrent_only = text_type in ("mamba", "falcon_mamba", "mamba2")
    head_keys = ["num_attention_heads", "n_head", "n_heads", "encoder_attention_heads"]
    if not recurrent_only:
        head_keys.insert(2, "num_heads")
    nh = r.get_int(*head_keys)

    nkv, nkv_note = read_kv_heads(r, nh, encoder_decoder=encoder_decoder, t5_like=t5_like)

    # MLA before head_dim: the cached width is the latent (theory.md 2.2)
    mla = read_mla(r, text_type, nh, notes)
    head_dim: int | None
    v_head_dim: int | None = None
    if mla is not None:
        head_dim = mla.kv_lora_rank + mla.qk_rope_head_dim
        nkv = 1
        nkv_note = None
        notes.append(
            f"MLA: one latent of kv_lora_rank+qk_rope_head_dim = {head_dim} per token per layer "
            f"(num_kv_heads=1); config num_key_value_heads={r.raw('num_key_value_heads')!r} applies to the "
            "decompressed heads only"
        )
    else:
        head_dim = None
        if text_type == "zamba2":
            head_dim = r.get_int("attention_head_dim")
            if head_dim is None and hidden and nh:
                head_dim = 2 * hidden // nh
                notes.append("Zamba2Config: attention_head_dim = 2*hidden_size // num_attention_heads")
        if head_dim is None:
            head_dim = r.get_int("head_dim", "hidden_size_per_head", "d_kv", "kv_channels")
        if head_dim is None and encoder_decoder and not t5_like:
            dec_heads = r.get_int("decoder_attention_heads")
            if hidden and dec_heads:
                head_dim = hidden // dec_heads
        if head_dim is None and hidden and nh:
            head_dim = hidden // nh
            if hidden % nh:
                notes.append(
                    f"hidden_size {hidden} is not a multiple of {nh} heads; head_dim = {head_dim} (floor)"
                )
        v_head_dim = head_dim

    # --- recurrent mixers ------------------------------------------------------------------------------
    mamba = read_mamba(r, text_type, hidden, missing)
    linear = None if mamba is not None else read_linear_attention(r, text_type, nh, head_dim, missing)
    short_conv = None
    if text_type in SHORT_CONV_TYPES:
        kernel = r.get_int("conv_L_cache")
        dim = r.get_int("conv_dim") or hidden
        if kernel is not None and dim is not None:
            short_conv = ShortConvConfig(dim=dim, conv_kernel=kernel)
        else:
            missing.append("short conv: conv_L_cache / hidden_size unknown")
    recurrent_kind: str | None = None
    if mamba is not None:
        recurrent_kind = "mamba" if mamba.version == 1 else "mamba2"
    elif linear is not None:
        recurrent_kind = "linear"
    elif short_conv is not None:
        recurrent_kind = "conv"

    # --- layer count for the cache: decoder layers of encoder-decoder models ---------------------------
    encoder: EncoderConfig | None = None
    cache_layers = num_layers
    if encoder_decoder:
        if t5_like:
            enc_layers = r.get_int("num_layers")
            dec_layers = r.get_int("num_decoder_layers") or enc_layers
            if r.get_int("num_decoder_layers") is None and enc_layers is not None:
                notes.append("T5Config: num_decoder_layers defaults to num_layers")
        else:
            enc_layers = r.get_int("encoder_layers", "num_hidden_layers")
            dec_layers = r.get_int("decoder_layers") or enc_layers
        enc_len, enc_src = None, None
        if (v := r.get_int("max_source_positions")) is not None:
            enc_len, enc_src = v, "max_source_positions"
        elif (v := r.get_int("n_positions", "max_position_embeddings")) is not None:
            enc_len, enc_src = v, "n_positions/max_position_embeddings"
        elif text_type == "whisper":
            enc_len, enc_src = 1500, "WhisperConfig default max_source_positions=1500"
        encoder = EncoderConfig(
            kind="encoder_decoder",
            encoder_layers=enc_layers,
            decoder_layers=dec_layers,
            encoder_length=enc_len,
            encoder_length_source=enc_src,
        )
        cache_layers = dec_layers
        if cache_layers is not None and cache_layers > MAX_LAYERS:
            problems.append(f"decoder layers: {cache_layers:,} is implausible (> {MAX_LAYERS:,}); ignored")
            cache_layers = None
        if num_layers is None:
            num_layers = enc_layers
    if cache_layers is None:
        # a per-layer description is a fact about the layer count
        for key in (
            "layer_types",
            "layers_block_type",
            "block_configs",
            "hybrid_override_pattern",
            "attn_type_list",
        ):
            value = r.raw(key)
            if isinstance(value, (list, str)) and 0 < len(value) <= MAX_LAYERS:
                cache_layers = num_layers = len(value)
                notes.append(f"num_layers taken from the length of {key}")
                break

    sliding = r.get_int("sliding_window")
    chunk = r.get_int("attention_chunk_size")

    # --- per-layer kinds -------------------------------------------------------------------------------
    layer_kinds: list[str] = []
    kinds_source: str | None = None
    layer_kv_heads: list[int] | None = None
    layer_head_dims: list[int] | None = None
    layer_windows: list[int | None] | None = None
    cross_layers: list[int] = []
    hybrid_mamba: list[int] = []
    if cache_layers is not None:
        facts = LayerFacts(
            model_type=text_type,
            num_layers=cache_layers,
            num_attention_heads=nh,
            sliding_window=sliding,
            attention_chunk_size=chunk,
            recurrent_kind=recurrent_kind,
            is_mla=mla is not None,
            encoder_only=encoder_only,
            encoder_decoder=encoder_decoder,
        )
        plan = resolve_layer_plan(r, facts)
        layer_kinds = plan.kinds
        kinds_source = plan.source
        cross_layers = plan.cross_layers
        hybrid_mamba = plan.hybrid_mamba_layers
        sliding = plan.sliding_window
        chunk = plan.attention_chunk_size
        notes.extend(plan.notes)
        missing.extend(plan.missing)
        if plan.kv_heads is not None:
            layer_kv_heads = [(nkv or 0) if v < 0 else v for v in plan.kv_heads]
        if plan.head_dims is not None:
            layer_head_dims = [(head_dim or 0) if v < 0 else v for v in plan.head_dims]
        layer_windows = plan.windows
        if hybrid_mamba and mamba is None:
            missing.append("hybrid layers carry a Mamba block but the Mamba dimensions are unknown")

    # Mllama: cross-attention layers read the vision encoder's tokens
    if cross_layers and not encoder_decoder:
        vision = root.sub("vision_config")
        enc_len, enc_src = None, None
        if vision is not None:
            image = vision.get_int("image_size")
            patch = vision.get_int("patch_size") or 14
            tiles = vision.get_int("max_num_tiles") or 4
            if image is not None:
                enc_len = tiles * ((image // patch) ** 2 + 1)
                enc_src = (
                    f"max_num_tiles x ((image_size // patch_size)^2 + 1) = {tiles} x ({image // patch}^2 + 1)"
                )
        encoder = EncoderConfig(kind="vision", encoder_length=enc_len, encoder_length_source=enc_src)

    # --- what the KV projection needs -----------------------------------------------------------------
    attn_kinds = {"full", "sliding", "chunked", "cross"}
    needs_attention = any(k in attn_kinds for k in layer_kinds)
    if nkv_note and needs_attention:
        notes.append(nkv_note)
    if layer_kinds and recurrent_kind is not None and not needs_attention and mla is None:
        head_dim = nkv = v_head_dim = 0  # attention-free model (vLLM get_head_size -> 0)
    if num_layers is None:
        missing.append("num_layers: no num_hidden_layers / n_layer / num_layers key")
    if hidden is None:
        missing.append("hidden_size: no hidden_size / n_embd / d_model key")
    vocab = r.get_int("vocab_size", "padded_vocab_size")
    if vocab is None:
        missing.append("vocab_size: no vocab_size / padded_vocab_size key")
    if needs_attention:
        if nkv is None:
            missing.append("num_kv_heads: no KV-head or attention-head key")
        if head_dim is None:
            missing.append("head_dim: no head_dim key and hidden_size / num_attention_heads unknown")
    max_ctx, max_ctx_key = read_max_context(r, root)
    if max_ctx is None and text_type in ("falcon", "refinedweb", "refinedwebmodel"):
        max_ctx, max_ctx_key = 2048, "FalconConfig default max_position_embeddings"
        notes.append("FalconConfig default max_position_embeddings=2048 applied")
    if max_ctx is None and layer_kinds and not encoder_only:
        missing.append("max_context: no max_position_embeddings / n_positions / max_seq_len ... key")

    dtype, dtype_source, dtype_problem = resolve_dtype(root, r, tc_key, config, tensors)
    if dtype_problem:
        missing.append(dtype_problem)

    # --- MoE / MTP (read for the weights and training estimators) ------------------------------------
    num_experts, per_tok, moe_inter, intermediate = read_ffn_sizes(r, text_type, hidden, notes)

    tie = r.get_bool("tie_word_embeddings")
    if tie is None and r is not root:
        tie = root.get_bool("tie_word_embeddings")

    missing.extend(p for p in problems if p not in missing)
    return Architecture(
        model_type=model_type,
        architectures=architectures,
        text_config_key=tc_key,
        num_layers=num_layers,
        hidden_size=hidden,
        num_attention_heads=nh,
        num_kv_heads=nkv,
        head_dim=head_dim,
        v_head_dim=v_head_dim,
        intermediate_size=intermediate,
        vocab_size=vocab,
        max_context=max_ctx,
        max_context_key=max_ctx_key,
        dtype=dtype,
        dtype_source=dtype_source,
        tie_word_embeddings=tie,
        sliding_window=sliding,
        attention_chunk_size=chunk,
        layer_kinds=layer_kinds,
        layer_kinds_source=kinds_source,
        layer_kv_heads=layer_kv_heads,
        layer_head_dims=layer_head_dims,
        layer_windows=layer_windows,
        cross_attention_layers=cross_layers,
        hybrid_mamba_layers=hybrid_mamba,
        num_experts=num_experts,
        experts_per_token=per_tok,
        shared_experts=r.get_int(*SHARED_EXPERTS_KEYS),
        moe_intermediate_size=moe_inter,
        shared_expert_intermediate_size=r.get_int(
            "shared_expert_intermediate_size", "moe_shared_expert_intermediate_size"
        ),
        first_dense_layers=r.get_int("first_k_dense_replace", minimum=0),
        mtp_layers=r.get_int(*MTP_LAYERS_KEYS, minimum=0) or 0,
        mla=mla,
        mamba=mamba,
        linear_attention=linear,
        short_conv=short_conv,
        encoder=encoder,
        quantization_config=read_quantization(root, r),
        family=read_family(r, root, text_type),
        quant=read_quant_config(root, r, companions or {}),
        notes=notes,
        missing=missing,
    )
