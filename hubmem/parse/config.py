"""config.json -> normalized :class:`~hubmem.schema.Architecture` (theory.md section 1).

Rules, in the order of theory.md 1.1-1.3 (sources there): find the text model's config object; read
each quantity from the first key variant present (a ``null`` falls through); decide every layer's
kind (``parse/layers.py``). Never raises for odd content: a wrong-typed value is named in
``Architecture.missing`` and skipped. Only a config that is not a JSON object raises ConfigError.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError
from ..schema.architecture import (
    Architecture,
    EncoderConfig,
    LinearAttentionConfig,
    MambaConfig,
    MLAConfig,
    ShortConvConfig,
)
from ._reader import Reader
from .header import Tensor
from .layers import LayerFacts, resolve_layer_plan

# theory.md 1.1: where multimodal / wrapper configs keep the text decoder.
TEXT_CONFIG_KEYS = ("text_config", "decoder", "generator", "language_config", "llm_config")

# vLLM is_deepseek_mla model types (theory.md 2.2).
MLA_MODEL_TYPES = frozenset(
    {
        "deepseek_v2",
        "deepseek_v3",
        "deepseek_v32",
        "deepseek_mtp",
        "kimi_k2",
        "kimi_linear",
        "longcat_flash",
        "pangu_ultra_moe",
        "pangu_ultra_moe_mtp",
        "glm4_moe_lite",
        "glm_moe_dsa",
    }
)

# Encoder-only families: bidirectional, no KV cache (vLLM EncoderOnlyAttentionSpec -> 0 bytes).
ENCODER_ONLY_TYPES = frozenset(
    {
        "bert",
        "roberta",
        "xlm-roberta",
        "xlm-roberta-xl",
        "distilbert",
        "albert",
        "electra",
        "deberta",
        "deberta-v2",
        "camembert",
        "mpnet",
        "modernbert",
        "nomic_bert",
        "megatron-bert",
        "ernie",
        "roformer",
        "xlm",
        "flaubert",
        "new",
    }
)

ENCODER_DECODER_TYPES = frozenset(
    {
        "t5",
        "mt5",
        "umt5",
        "longt5",
        "switch_transformers",
        "bart",
        "mbart",
        "marian",
        "pegasus",
        "pegasus_x",
        "m2m_100",
        "nllb_moe",
        "whisper",
        "blenderbot",
        "blenderbot-small",
        "fsmt",
        "plbart",
        "led",
        "prophetnet",
    }
)
_T5_LIKE = frozenset({"t5", "mt5", "umt5", "longt5", "switch_transformers"})

MAMBA1_TYPES = frozenset({"mamba", "falcon_mamba", "jamba", "zamba"})
MAMBA2_TYPES = frozenset(
    {"mamba2", "nemotron_h", "zamba2", "bamba", "granitemoehybrid", "falcon_h1", "plamo2"}
)
GDN_PREFIXES = ("qwen3_next", "qwen3_5")
LIGHTNING_TYPES = frozenset({"minimax", "minimax_text_01", "minimax_m1"})
GPT2_LIKE = frozenset({"gpt2", "gptj", "gpt_bigcode", "codegen", "gpt_neo", "imagegpt"})
SHORT_CONV_TYPES = frozenset({"lfm2", "lfm2_moe", "lfm2_vl"})

# Config dtype names -> canonical activation dtype. Anything else (float8_*, int8, uint8, "auto") is not an
# activation dtype: for FP8/GPTQ/MXFP4 checkpoints the activations run in bf16/fp16.
_DTYPE_NAMES = {
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "float64": "float64",
    "double": "float64",
}
# safetensors floating dtypes that are activation dtypes (packed containers U8/I32/F8/F4 never are).
_TENSOR_FLOAT_DTYPES = {"BF16": "bfloat16", "F16": "float16", "F32": "float32", "F64": "float64"}
DEFAULT_DTYPE = "bfloat16"
MAX_LAYERS = 10_000  # a layer count beyond this is a broken config, not a model


def normalize_dtype(name: object) -> str | None:
    """``torch.bfloat16`` / ``bf16`` / ``half`` ... -> canonical name; None if not an activation dtype."""
    if not isinstance(name, str):
        return None
    key = name.strip().lower().removeprefix("torch.")
    return _DTYPE_NAMES.get(key)


def _text_config(config: dict[str, Any], problems: list[str]) -> tuple[dict[str, Any], str | None]:
    for key in TEXT_CONFIG_KEYS:
        value = config.get(key)
        if value is None:
            continue
        if isinstance(value, dict):
            return value, key
        problems.append(f"{key}: expected an object, got {type(value).__name__}; ignored")
    thinker = config.get("thinker_config")
    if isinstance(thinker, dict) and isinstance(thinker.get("text_config"), dict):
        return thinker["text_config"], "thinker_config.text_config"
    return config, None


def _dtype(
    root: Reader, r: Reader, tc_key: str | None, config: dict[str, Any], tensors: Sequence[Tensor] | None
) -> tuple[str, str, str | None]:
    """(dtype, source, problem) following vLLM get_torch_dtype's order (theory.md 1.2)."""
    ignored: list[str] = []
    candidates: list[tuple[Reader, str]] = [(root, "config")]
    if tc_key is not None:
        candidates.append((r, tc_key))
    for sub in ("vision_config", "encoder"):
        if isinstance(config.get(sub), dict):
            candidates.append((Reader(config[sub]), sub))
    for reader, label in candidates:
        for key in ("dtype", "torch_dtype"):
            raw = reader.raw(key)
            if raw is None:
                continue
            canon = normalize_dtype(raw)
            if canon is not None:
                return canon, f"{label}:{key}", None
            ignored.append(f"{label}.{key}={raw!r}")
    if tensors:
        counts: Counter[str] = Counter()
        for t in tensors:
            name = _TENSOR_FLOAT_DTYPES.get(t.dtype)
            if name is not None:
                counts[name] += t.numel
        if counts:
            best = max(counts.items(), key=lambda kv: (kv[1], kv[0]))[0]
            return best, "tensors", None
    why = "no dtype/torch_dtype in config and no floating-point tensors"
    if ignored:
        why += f" ({', '.join(ignored)} is not an activation dtype)"
    return DEFAULT_DTYPE, "default", f"dtype: {why}; {DEFAULT_DTYPE} assumed for projections"


def _quantization(root: Reader, r: Reader) -> dict[str, Any] | None:
    for reader in (root, r):
        for key in ("quantization_config", "compression_config"):
            d = reader.get_dict(key)
            if d is not None:
                return d
    return None


def _max_context(r: Reader, root: Reader) -> tuple[int | None, str | None]:
    keys = (
        "max_position_embeddings",
        "n_positions",
        "max_seq_len",
        "seq_length",
        "model_max_length",
        "max_target_positions",
        "max_sequence_length",
        "max_seq_length",
        "seq_len",
    )
    for reader in (r, root) if r is not root else (r,):
        found = [(v, k) for k in keys if (v := reader.get_int(k)) is not None]
        if found:
            v, k = min(found)
            return v, k
    return None, None


def _mla(r: Reader, text_type: str, nh: int | None, notes: list[str]) -> MLAConfig | None:
    rank = r.get_int("kv_lora_rank")
    rope = r.get_int("qk_rope_head_dim")
    if rank is None:
        return None
    if rope is None:
        return None
    if text_type not in MLA_MODEL_TYPES:
        notes.append(
            f"MLA cache assumed from kv_lora_rank (model_type {text_type!r} is not in vLLM's MLA list)"
        )
    index_dim = r.get_int("index_head_dim") if r.has("index_topk") or text_type == "deepseek_v32" else None
    return MLAConfig(
        kv_lora_rank=rank,
        qk_rope_head_dim=rope,
        qk_nope_head_dim=r.get_int("qk_nope_head_dim"),
        v_head_dim=r.get_int("v_head_dim"),
        q_lora_rank=r.get_int("q_lora_rank"),
        num_heads=nh,
        index_head_dim=index_dim,
        index_n_heads=r.get_int("index_n_heads") if index_dim else None,
    )


def _mamba(r: Reader, text_type: str, hidden: int | None, missing: list[str]) -> MambaConfig | None:
    if text_type in MAMBA2_TYPES or (r.has("mamba_num_heads") or r.has("n_mamba_heads")):
        version = 2
    elif text_type in MAMBA1_TYPES:
        version = 1
    else:
        return None
    state = r.get_int("ssm_state_size", "state_size", "mamba_d_state")
    conv = r.get_int("conv_kernel", "mamba_d_conv", "d_conv")
    ssm_dtype = normalize_dtype(r.raw("mamba_ssm_cache_dtype"))
    if version == 1:
        expand = r.get_float("mamba_expand" if text_type in ("jamba", "zamba") else "expand")
        # Jamba/Zamba's intermediate_size belongs to the MLP; falcon-mamba ships expand=16 but
        # intermediate_size=8192 and the explicit key wins (theory.md 1.2).
        inter: int | None = None if text_type in ("jamba", "zamba") else r.get_int("intermediate_size")
        if inter is None and expand is not None and hidden is not None:
            inter = int(expand * hidden)
        if inter is None or state is None or conv is None:
            missing.append("mamba: intermediate_size/state_size/conv_kernel not all known")
            return None
        return MambaConfig(
            version=1, intermediate_size=inter, state_size=state, conv_kernel=conv, ssm_cache_dtype=ssm_dtype
        )
    plain = text_type == "mamba2"
    heads = r.get_int("mamba_num_heads", "n_mamba_heads", "mamba_n_heads", *(("num_heads",) if plain else ()))
    head_dim = r.get_int("mamba_head_dim", "mamba_headdim", "mamba_d_head", *(("head_dim",) if plain else ()))
    groups = r.get_int("n_groups", "mamba_ngroups", "mamba_n_groups") or 1
    inter = heads * head_dim if heads is not None and head_dim is not None else None
    if inter is None:
        expand = r.get_float("mamba_expand", "expand")
        if expand is not None and hidden is not None:
            inter = int(expand * hidden)
    if heads is None and head_dim is not None and inter is not None:
        heads = inter // head_dim
    if head_dim is None and heads is not None and inter is not None:
        head_dim = inter // heads  # Zamba2Config: mamba_headdim = mamba_expand * hidden_size // n_mamba_heads
    if inter is None or state is None or conv is None or heads is None or head_dim is None:
        missing.append("mamba2: num_heads/head_dim/state_size/conv_kernel not all known")
        return None
    if text_type == "nemotron_h" and ssm_dtype is None:
        ssm_dtype = "float32"  # vLLM NemotronHForCausalLMConfig default
    return MambaConfig(
        version=2,
        intermediate_size=inter,
        state_size=state,
        conv_kernel=conv,
        num_heads=heads,
        head_dim=head_dim,
        n_groups=groups,
        ssm_cache_dtype=ssm_dtype,
    )


def _linear(
    r: Reader, text_type: str, nh: int | None, hd: int | None, missing: list[str]
) -> LinearAttentionConfig | None:
    if text_type.startswith(GDN_PREFIXES) or r.has("linear_num_value_heads"):
        nk = r.get_int("linear_num_key_heads")
        nv = r.get_int("linear_num_value_heads")
        dk = r.get_int("linear_key_head_dim")
        dv = r.get_int("linear_value_head_dim")
        k = r.get_int("linear_conv_kernel_dim")
        if nk is None or nv is None or dk is None or dv is None or k is None:
            missing.append(
                "gated DeltaNet: linear_num_key/value_heads, linear_key/value_head_dim or conv kernel unknown"
            )
            return None
        return LinearAttentionConfig(
            kind="gated_deltanet",
            num_key_heads=nk,
            num_value_heads=nv,
            key_head_dim=dk,
            value_head_dim=dv,
            conv_kernel=k,
        )
    if text_type in LIGHTNING_TYPES or r.has("attn_type_list"):
        if nh is None or hd is None:
            missing.append("lightning attention: num_attention_heads/head_dim unknown")
            return None
        return LinearAttentionConfig(
            kind="lightning",
            num_key_heads=nh,
            num_value_heads=nh,
            key_head_dim=hd,
            value_head_dim=hd,
            conv_kernel=0,
        )
    return None


def parse_config(config: dict[str, Any] | None, *, tensors: Sequence[Tensor] | None = None) -> Architecture:
    """Normalize a config.json object. ``tensors`` (safetensors headers) only serve the dtype fallback."""
    if config is None:
        return Architecture(missing=["config.json: absent; nothing to derive the architecture from"])
    if not isinstance(config, dict):
        raise ConfigError(f"config.json is not a JSON object (got {type(config).__name__})")

    problems: list[str] = []
    notes: list[str] = []
    missing: list[str] = []
    root = Reader(config, problems=problems)
    tc, tc_key = _text_config(config, problems)
    r = Reader(tc, where=f"{tc_key}." if tc_key else "", problems=problems) if tc_key else root

    model_type = root.get_str("model_type") or r.get_str("model_type")
    text_type = (r.get_str("model_type") or model_type or "").lower()
    architectures = [a for a in (root.get_list("architectures") or []) if isinstance(a, str)]

    encoder_decoder = text_type in ENCODER_DECODER_TYPES or root.get_bool("is_encoder_decoder") is True
    encoder_only = text_type in ENCODER_ONLY_TYPES and not encoder_decoder
    t5_like = text_type in _T5_LIKE

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

    # KV heads (vLLM get_total_num_kv_heads order)
    nkv: int | None = None
    nkv_note: str | None = None
    if r.get_bool("multi_query") is True and r.get_bool("new_decoder_architecture") is not True:
        nkv = 1
    if nkv is None and (attn_cfg := r.sub("attn_config")) is not None:
        nkv = attn_cfg.get_int("kv_n_heads")
    blocks = r.get_list("block_configs")
    if nkv is None and blocks is not None and nh is not None:
        for block in blocks:
            attn = block.get("attention") if isinstance(block, dict) else None
            if (
                isinstance(attn, dict)
                and attn.get("no_op") is not True
                and attn.get("replace_with_linear") is not True
            ):
                group = attn.get("n_heads_in_group")
                if isinstance(group, int) and not isinstance(group, bool) and group > 0:
                    nkv = nh // group
                break
    if nkv is None and encoder_decoder and not t5_like:
        nkv = r.get_int("decoder_attention_heads")
    if nkv is None:
        nkv = r.get_int(
            "n_head_kv",
            "n_kv_heads",
            "num_kv_heads",
            "num_key_value_heads",
            "multi_query_group_num",
            "num_attention_groups",
        )
    if nkv is None and nh is not None:
        nkv = nh
        nkv_note = (
            "no KV-head key: multi-head attention assumed (num_kv_heads = num_attention_heads), as vLLM does"
        )

    # MLA before head_dim: the cached width is the latent (theory.md 2.2)
    mla = _mla(r, text_type, nh, notes)
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
    mamba = _mamba(r, text_type, hidden, missing)
    linear = None if mamba is not None else _linear(r, text_type, nh, head_dim, missing)
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
        plan = resolve_layer_plan(r, root, facts)
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
    max_ctx, max_ctx_key = _max_context(r, root)
    if max_ctx is None and text_type in ("falcon", "refinedweb", "refinedwebmodel"):
        max_ctx, max_ctx_key = 2048, "FalconConfig default max_position_embeddings"
        notes.append("FalconConfig default max_position_embeddings=2048 applied")
    if max_ctx is None and layer_kinds and not encoder_only:
        missing.append("max_context: no max_position_embeddings / n_positions / max_seq_len ... key")

    dtype, dtype_source, dtype_problem = _dtype(root, r, tc_key, config, tensors)
    if dtype_problem:
        missing.append(dtype_problem)

    # --- MoE / MTP (read for the weights and training estimators) ------------------------------------
    num_experts = r.get_int("num_experts", "moe_num_experts", "n_routed_experts", "num_local_experts")
    ffn_cfg = r.sub("ffn_config")
    if num_experts is None and ffn_cfg is not None:
        num_experts = ffn_cfg.get_int("moe_num_experts")
    per_tok = r.get_int(
        "num_experts_per_tok",
        "num_experts_per_token",
        "experts_per_token",
        "top_k_experts",
        "moe_topk",
        "moe_top_k",
    )
    if per_tok is None and ffn_cfg is not None:
        per_tok = ffn_cfg.get_int("moe_top_k")
    moe_inter = r.get_int("moe_intermediate_size")
    if moe_inter is None and ffn_cfg is not None:
        moe_inter = ffn_cfg.get_int("ffn_hidden_size")
    intermediate = r.get_int("intermediate_size", "n_inner", "ffn_dim", "d_ff", "ffn_hidden_size")
    if intermediate is None and text_type in GPT2_LIKE and hidden is not None:
        intermediate = 4 * hidden
        notes.append(f"{text_type}: n_inner / intermediate_size unset, default 4 x hidden_size")

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
        shared_experts=r.get_int("n_shared_experts", "num_shared_experts"),
        moe_intermediate_size=moe_inter,
        shared_expert_intermediate_size=r.get_int(
            "shared_expert_intermediate_size", "moe_shared_expert_intermediate_size"
        ),
        first_dense_layers=r.get_int("first_k_dense_replace", minimum=0),
        mtp_layers=r.get_int("num_nextn_predict_layers", "mtp_num_hidden_layers", "num_mtp_layers", minimum=0)
        or 0,
        mla=mla,
        mamba=mamba,
        linear_attention=linear,
        short_conv=short_conv,
        encoder=encoder,
        quantization_config=_quantization(root, r),
        notes=notes,
        missing=missing,
    )
