"""Every cache-holding unit of a model: KV bytes per token per layer, or a fixed recurrent state."""

from __future__ import annotations

from dataclasses import dataclass

from hubmem.estimate.kv.dtype import FP8_DS_MLA_BYTES, resolve_kv_dtype, ssm_auto_note
from hubmem.estimate.kv.state import DTYPE_BYTES, StateSize, state_size
from hubmem.schema.architecture import Architecture
from hubmem.schema.kv import KVOptions


@dataclass
class CacheLayer:
    """One cache-holding unit of one layer (a layer may have two: self- and cross-attention)."""

    index: int  # layer index (MTP layers: num_layers + j)
    key: str  # by_layer_kind key
    vllm_type: str  # "full" | "sliding" | "chunked" | "cross" | "mamba" | "none"
    per_token: int = 0  # bytes per token held
    window: int | None = None  # sliding window / attention chunk that caps the tokens held
    fixed_tokens: int | None = None  # cross-attention: encoder tokens
    state: StateSize | None = None
    unbounded: bool = False  # grows with every token up to the model's max context
    formula: str = ""

    @property
    def state_bytes(self) -> int:
        return self.state.bytes if self.state is not None else 0


@dataclass
class CachePlan:
    layers: list[CacheLayer]
    kv_dtype: str
    kv_bytes: int
    state_dtype: str | None
    assumptions: list[str]
    missing: list[str]


def fmt(n: int) -> str:
    return f"{n:,}"


def build_plan(arch: Architecture, options: KVOptions) -> CachePlan:
    """Every cache-holding unit of the model, with per-token bytes or per-sequence state."""
    engine = options.engine
    kv_dtype, kv_b, assumptions = resolve_kv_dtype(arch, options)
    missing: list[str] = []
    layers: list[CacheLayer] = []
    kinds = arch.layer_kinds
    if not kinds:
        missing.append(
            "layer kinds: unknown (" + ("; ".join(arch.missing[:3]) or "num_layers missing from config") + ")"
        )
    act = arch.dtype if arch.dtype in DTYPE_BYTES else "bfloat16"
    act_b = DTYPE_BYTES[act]
    seen_missing: set[str] = set()

    def need(msg: str) -> None:
        if msg not in seen_missing:
            seen_missing.add(msg)
            missing.append(msg)

    def attn_dims(i: int) -> tuple[int, int, int] | None:
        nkv = arch.num_kv_heads
        if arch.layer_kv_heads is not None and i < len(arch.layer_kv_heads):
            nkv = arch.layer_kv_heads[i]
        hd = arch.head_dim
        hdv = arch.v_head_dim or hd
        if arch.layer_head_dims is not None and i < len(arch.layer_head_dims):
            hd = hdv = arch.layer_head_dims[i]
        if not nkv or not hd or not hdv:
            return None
        return nkv, hd, hdv

    def attn_layer(i: int, kind: str, key: str | None = None) -> CacheLayer | None:
        dims = attn_dims(i)
        if dims is None:
            need(f"{kind} attention: num_kv_heads / head_dim unknown")
            return None
        nkv, hd, hdv = dims
        per_token = nkv * (hd + hdv) * kv_b
        formula = f"{nkv} KV heads x ({hd} + {hdv}) x {kv_b} B = {fmt(per_token)} B/token/layer"
        window: int | None = None
        if kind in ("sliding", "chunked"):
            if kind == "sliding":
                window = arch.sliding_window
                if arch.layer_windows is not None and i < len(arch.layer_windows) and arch.layer_windows[i]:
                    window = arch.layer_windows[i]
            else:
                window = arch.attention_chunk_size
            if window is None:
                need(f"{kind} attention: window size unknown")
                return None
        unbounded = window is None or (arch.max_context is not None and window >= arch.max_context)
        return CacheLayer(i, key or kind, kind, per_token, window, None, None, unbounded, formula)

    mla = arch.mla
    mla_per_token = 0
    if mla is not None:
        width = mla.kv_lora_rank + mla.qk_rope_head_dim
        if kv_dtype == "fp8_ds_mla":
            mla_per_token = FP8_DS_MLA_BYTES
            mla_formula = (
                "fp8_ds_mla: 512 B fp8 NoPE + 16 B fp32 scales + 128 B bf16 RoPE = 656 B/token/layer"
            )
        else:
            mla_per_token = width * kv_b
            mla_formula = (
                f"latent (kv_lora_rank {mla.kv_lora_rank} + qk_rope_head_dim {mla.qk_rope_head_dim}) "
                f"x {kv_b} B = {fmt(mla_per_token)} B/token/layer (no factor 2: K and V share the latent)"
            )

    def mla_layers(i: int, key: str) -> list[CacheLayer]:
        assert mla is not None
        out = [CacheLayer(i, key, "full", mla_per_token, None, None, None, True, mla_formula)]
        if mla.index_head_dim:
            if engine == "vllm":
                idx = mla.index_head_dim + mla.index_head_dim // 128 * 4
                f = f"indexer key fp8 {mla.index_head_dim} B + fp32 scale per 128 = {idx} B/token/layer"
            else:
                idx = mla.index_head_dim * act_b
                f = f"indexer key {mla.index_head_dim} x {act_b} B = {idx} B/token/layer (transformers)"
            out.append(CacheLayer(i, "indexer", "full", idx, None, None, None, True, f))
        return out

    recurrent_missing: dict[str, bool] = {}

    def state_layer(i: int, kind: str) -> CacheLayer | None:
        st = state_size(arch, kind, engine, options.ssm_dtype)
        if st is None:
            if not recurrent_missing.get(kind):
                recurrent_missing[kind] = True
                need(f"{kind} layers: state dimensions unknown")
            return None
        return CacheLayer(i, kind, "mamba", 0, None, None, st, False, st.formula)

    cross = set(arch.cross_attention_layers)
    enc_len = options.encoder_length or (arch.encoder.encoder_length if arch.encoder else None)
    for i, kind in enumerate(kinds):
        if kind in ("full", "sliding", "chunked"):
            if (layer := attn_layer(i, kind)) is not None:
                layers.append(layer)
        elif kind == "mla":
            if mla is None:
                need("mla layers: kv_lora_rank / qk_rope_head_dim unknown")
            else:
                layers.extend(mla_layers(i, "mla"))
        elif kind in ("mamba", "mamba2", "linear", "conv"):
            if (layer := state_layer(i, kind)) is not None:
                layers.append(layer)
        elif kind in ("none", "encoder", "cross"):
            if kind != "cross":
                layers.append(CacheLayer(i, kind, "none", formula="no cache"))
        else:
            need(f"layer {i}: kind {kind!r} is not known; its cache cannot be projected")
        if i in cross:
            if enc_len is None:
                need("cross-attention: encoder length unknown (pass encoder_length)")
            elif (layer := attn_layer(i, "cross")) is not None:
                layer.vllm_type, layer.fixed_tokens, layer.unbounded = "cross", enc_len, False
                layer.formula += f", for {fmt(enc_len)} encoder tokens"
                layers.append(layer)
    for i in arch.hybrid_mamba_layers:
        kind = "mamba" if arch.mamba is not None and arch.mamba.version == 1 else "mamba2"
        if (layer := state_layer(i, kind)) is not None:
            layers.append(layer)

    if arch.mtp_layers:
        if options.include_mtp:
            main = "mla" if mla is not None else "full"
            for j in range(arch.mtp_layers):
                idx = len(kinds) + j
                if mla is not None:
                    layers.extend(mla_layers(idx, "mtp")[:1])
                elif (layer := attn_layer(idx, "full", key="mtp")) is not None:
                    layers.append(layer)
            assumptions.append(f"{arch.mtp_layers} MTP draft layer(s) counted as {main} attention layers")
        else:
            assumptions.append(
                f"{arch.mtp_layers} multi-token-prediction layer(s) not counted (they cache KV only when MTP "
                "speculative decoding is enabled: include_mtp)"
            )

    # assumptions that describe the formulas used
    keys = {layer.key for layer in layers}
    if keys & {"full", "sliding", "chunked", "cross", "mtp"} and mla is None:
        assumptions.append(
            "attention KV per layer per token = num_kv_heads x (head_dim + v_head_dim) x bytes"
        )
    if mla is not None:
        assumptions.append("MLA: one latent per token per layer, (kv_lora_rank + qk_rope_head_dim) x bytes")
        if engine == "transformers":
            assumptions.append(
                "transformers 5.x DeepSeek/MLA attention caches the compressed latent and the rotary key "
                "(past_key_values.update(kv_nope, k_rot)), not per-head K/V"
            )
    if "cross" in keys and enc_len is not None:
        src = (
            "encoder_length option"
            if options.encoder_length
            else (arch.encoder.encoder_length_source if arch.encoder else "")
        )
        assumptions.append(f"cross-attention caches {fmt(enc_len)} encoder tokens per sequence ({src})")
    if "encoder" in keys:
        assumptions.append(
            "encoder-only model: bidirectional layers keep no KV cache (vLLM EncoderOnlyAttentionSpec)"
        )
    state_dtype = None
    state_layers = [layer for layer in layers if layer.state is not None]
    if state_layers:
        st = state_layers[0].state
        assert st is not None
        state_dtype = st.ssm_dtype
        assumptions.append(
            f"recurrent state per sequence, constant in context: conv in {st.conv_dtype}, SSM/temporal in "
            f"{st.ssm_dtype}"
            + (" (ssm_dtype option)" if options.ssm_dtype != "auto" else ssm_auto_note(arch, engine))
        )
    if kv_dtype.startswith("float8") and engine == "transformers":
        assumptions.append(
            "fp8 KV in transformers (QuantizedCache, fp8 backend) modelled as 1 byte/element; its scales and "
            "unquantized residual tokens are not counted"
        )
    return CachePlan(layers, kv_dtype, kv_b, state_dtype, assumptions, missing)
