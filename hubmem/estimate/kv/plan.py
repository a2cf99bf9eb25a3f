"""Every cache-holding unit of a model: KV bytes per token per layer, or a fixed recurrent state."""

from __future__ import annotations

import msgspec

from hubmem.estimate.kv.dtype import FP8_DS_MLA_BYTES, resolve_kv_dtype, ssm_auto_note
from hubmem.estimate.kv.state import DTYPE_BYTES, StateSize, state_size
from hubmem.schema.architecture import Architecture
from hubmem.schema.kv import KVOptions


class CacheLayer(msgspec.Struct):
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


class CachePlan(msgspec.Struct):
    layers: list[CacheLayer]
    kv_dtype: str
    kv_bytes: int
    state_dtype: str | None
    assumptions: list[str]
    missing: list[str]


def fmt(n: int) -> str:
    return f"{n:,}"


class _Planner:
    """Builds the cache units of one model, layer by layer; notes each missing dimension once."""

    def __init__(self, arch: Architecture, options: KVOptions) -> None:
        self.arch, self.options, self.engine = arch, options, options.engine
        self.kv_dtype, self.kv_b, self.assumptions = resolve_kv_dtype(arch, options)
        self.missing: list[str] = []
        self.act_b = DTYPE_BYTES[arch.dtype if arch.dtype in DTYPE_BYTES else "bfloat16"]
        self.mla_per_token, self.mla_formula = self._mla_width()

    def need(self, msg: str) -> None:
        if msg not in self.missing:
            self.missing.append(msg)

    # -- softmax attention -----------------------------------------------------------------------------

    def _dims(self, i: int) -> tuple[int, int, int] | None:
        arch = self.arch
        nkv, hd = arch.num_kv_heads, arch.head_dim
        hdv = arch.v_head_dim or hd
        if arch.layer_kv_heads is not None and i < len(arch.layer_kv_heads):
            nkv = arch.layer_kv_heads[i]
        if arch.layer_head_dims is not None and i < len(arch.layer_head_dims):
            hd = hdv = arch.layer_head_dims[i]
        if not nkv or not hd or not hdv:
            return None
        return nkv, hd, hdv

    def _window(self, i: int, kind: str) -> int | None:
        arch = self.arch
        if kind == "chunked":
            return arch.attention_chunk_size
        if arch.layer_windows is not None and i < len(arch.layer_windows) and arch.layer_windows[i]:
            return arch.layer_windows[i]
        return arch.sliding_window

    def attention(self, i: int, kind: str, key: str | None = None) -> CacheLayer | None:
        dims = self._dims(i)
        if dims is None:
            self.need(f"{kind} attention: num_kv_heads / head_dim unknown")
            return None
        nkv, hd, hdv = dims
        per_token = nkv * (hd + hdv) * self.kv_b
        formula = f"{nkv} KV heads x ({hd} + {hdv}) x {self.kv_b} B = {fmt(per_token)} B/token/layer"
        window = self._window(i, kind) if kind in ("sliding", "chunked") else None
        if kind in ("sliding", "chunked") and window is None:
            self.need(f"{kind} attention: window size unknown")
            return None
        max_ctx = self.arch.max_context
        unbounded = window is None or (max_ctx is not None and window >= max_ctx)
        return CacheLayer(i, key or kind, kind, per_token, window, None, None, unbounded, formula)

    def cross(self, i: int, encoder_tokens: int | None) -> CacheLayer | None:
        if encoder_tokens is None:
            self.need("cross-attention: encoder length unknown (pass encoder_length)")
            return None
        layer = self.attention(i, "cross")
        if layer is not None:
            layer.vllm_type, layer.fixed_tokens, layer.unbounded = "cross", encoder_tokens, False
            layer.formula += f", for {fmt(encoder_tokens)} encoder tokens"
        return layer

    # -- MLA ---------------------------------------------------------------------------------------------

    def _mla_width(self) -> tuple[int, str]:
        mla = self.arch.mla
        if mla is None:
            return 0, ""
        if self.kv_dtype == "fp8_ds_mla":
            text = "fp8_ds_mla: 512 B fp8 NoPE + 16 B fp32 scales + 128 B bf16 RoPE = 656 B/token/layer"
            return FP8_DS_MLA_BYTES, text
        per_token = (mla.kv_lora_rank + mla.qk_rope_head_dim) * self.kv_b
        text = (
            f"latent (kv_lora_rank {mla.kv_lora_rank} + qk_rope_head_dim {mla.qk_rope_head_dim}) "
            f"x {self.kv_b} B = {fmt(per_token)} B/token/layer (no factor 2: K and V share the latent)"
        )
        return per_token, text

    def mla(self, i: int, key: str) -> list[CacheLayer]:
        mla = self.arch.mla
        if mla is None:
            self.need("mla layers: kv_lora_rank / qk_rope_head_dim unknown")
            return []
        out = [CacheLayer(i, key, "full", self.mla_per_token, None, None, None, True, self.mla_formula)]
        if mla.index_head_dim:
            dim = mla.index_head_dim
            if self.engine == "vllm":
                idx = dim + dim // 128 * 4
                text = f"indexer key fp8 {dim} B + fp32 scale per 128 = {idx} B/token/layer"
            else:
                idx = dim * self.act_b
                text = f"indexer key {dim} x {self.act_b} B = {idx} B/token/layer (transformers)"
            out.append(CacheLayer(i, "indexer", "full", idx, None, None, None, True, text))
        return out

    # -- recurrent state ------------------------------------------------------------------------------

    def state(self, i: int, kind: str) -> CacheLayer | None:
        st = state_size(self.arch, kind, self.engine, self.options.ssm_dtype)
        if st is None:
            self.need(f"{kind} layers: state dimensions unknown")
            return None
        return CacheLayer(i, kind, "mamba", 0, None, None, st, False, st.formula)

    # -- the model ---------------------------------------------------------------------------------------

    def layer(self, i: int, kind: str) -> list[CacheLayer]:
        """The cache unit(s) of layer ``i``'s main kind (cross-attention is added separately)."""
        if kind in ("full", "sliding", "chunked"):
            found = self.attention(i, kind)
        elif kind == "mla":
            return self.mla(i, "mla")
        elif kind in ("mamba", "mamba2", "linear", "conv"):
            found = self.state(i, kind)
        elif kind in ("none", "encoder"):
            found = CacheLayer(i, kind, "none", formula="no cache")
        elif kind == "cross":
            return []
        else:
            self.need(f"layer {i}: kind {kind!r} is not known; its cache cannot be projected")
            return []
        return [found] if found is not None else []

    def mtp(self, first: int) -> list[CacheLayer]:
        """Multi-token-prediction draft layers: cached only with MTP speculative decoding (include_mtp)."""
        n = self.arch.mtp_layers
        if not self.options.include_mtp:
            self.assumptions.append(
                f"{n} multi-token-prediction layer(s) not counted (they cache KV only when MTP "
                "speculative decoding is enabled: include_mtp)"
            )
            return []
        out: list[CacheLayer] = []
        for j in range(n):
            if self.arch.mla is not None:
                out.extend(self.mla(first + j, "mtp")[:1])
            elif (layer := self.attention(first + j, "full", key="mtp")) is not None:
                out.append(layer)
        main = "mla" if self.arch.mla is not None else "full"
        self.assumptions.append(f"{n} MTP draft layer(s) counted as {main} attention layers")
        return out

    def encoder_tokens(self) -> int | None:
        enc = self.arch.encoder
        return self.options.encoder_length or (enc.encoder_length if enc else None)

    def layers(self) -> list[CacheLayer]:
        arch = self.arch
        if not arch.layer_kinds:
            reason = "; ".join(arch.missing[:3]) or "num_layers missing from config"
            self.missing.append(f"layer kinds: unknown ({reason})")
        cross = set(arch.cross_attention_layers)
        out: list[CacheLayer] = []
        for i, kind in enumerate(arch.layer_kinds):
            out.extend(self.layer(i, kind))
            if i in cross and (layer := self.cross(i, self.encoder_tokens())) is not None:
                out.append(layer)
        mamba_kind = "mamba" if arch.mamba is not None and arch.mamba.version == 1 else "mamba2"
        out.extend(layer for i in arch.hybrid_mamba_layers if (layer := self.state(i, mamba_kind)))
        if arch.mtp_layers:
            out.extend(self.mtp(len(arch.layer_kinds)))
        return out


def _describe(planner: _Planner, layers: list[CacheLayer]) -> str | None:
    """The assumptions that describe the formulas used; returns the recurrent-state dtype."""
    arch, engine, notes = planner.arch, planner.engine, planner.assumptions
    keys = {layer.key for layer in layers}
    if keys & {"full", "sliding", "chunked", "cross", "mtp"} and arch.mla is None:
        notes.append("attention KV per layer per token = num_kv_heads x (head_dim + v_head_dim) x bytes")
    if arch.mla is not None:
        notes.append("MLA: one latent per token per layer, (kv_lora_rank + qk_rope_head_dim) x bytes")
        if engine == "transformers":
            notes.append(
                "transformers 5.x DeepSeek/MLA attention caches the compressed latent and the rotary key "
                "(past_key_values.update(kv_nope, k_rot)), not per-head K/V"
            )
    enc_len = planner.encoder_tokens()
    if "cross" in keys and enc_len is not None:
        src = "encoder_length option" if planner.options.encoder_length else _encoder_source(arch)
        notes.append(f"cross-attention caches {fmt(enc_len)} encoder tokens per sequence ({src})")
    if "encoder" in keys:
        notes.append(
            "encoder-only model: bidirectional layers keep no KV cache (vLLM EncoderOnlyAttentionSpec)"
        )
    state_dtype = _describe_state(planner, layers)
    if planner.kv_dtype.startswith("float8") and engine == "transformers":
        notes.append(
            "fp8 KV in transformers (QuantizedCache, fp8 backend) modelled as 1 byte/element; its scales and "
            "unquantized residual tokens are not counted"
        )
    return state_dtype


def _encoder_source(arch: Architecture) -> str:
    return (arch.encoder.encoder_length_source or "") if arch.encoder else ""


def _describe_state(planner: _Planner, layers: list[CacheLayer]) -> str | None:
    st = next((layer.state for layer in layers if layer.state is not None), None)
    if st is None:
        return None
    if planner.options.ssm_dtype != "auto":
        why = " (ssm_dtype option)"
    else:
        why = ssm_auto_note(planner.arch, planner.engine)
    planner.assumptions.append(
        f"recurrent state per sequence, constant in context: conv in {st.conv_dtype}, SSM/temporal in "
        f"{st.ssm_dtype}{why}"
    )
    return st.ssm_dtype


def build_plan(arch: Architecture, options: KVOptions) -> CachePlan:
    """Every cache-holding unit of the model, with per-token bytes or per-sequence state."""
    planner = _Planner(arch, options)
    layers = planner.layers()
    state_dtype = _describe(planner, layers)
    return CachePlan(
        layers, planner.kv_dtype, planner.kv_b, state_dtype, planner.assumptions, planner.missing
    )
