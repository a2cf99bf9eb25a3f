"""KV cache and recurrent-state projection (theory.md section 2).

Per layer and token (``b`` = bytes per element of the KV dtype):

* full / sliding / chunked attention: ``nkv x (head_dim + v_head_dim) x b`` (K and V);
* MLA: ``(kv_lora_rank + qk_rope_head_dim) x b`` - one latent, no factor 2; ``fp8_ds_mla`` = 656 B;
  DeepSeek-V3.2 adds its indexer key cache;
* cross-attention: the same per token, for a fixed number of encoder tokens;
* Mamba / gated DeltaNet / lightning / short conv: a fixed state per sequence (``state.py``).

Two engine views, both labelled in the report:

* ``engine="transformers"`` - tokens actually held by transformers' caches: DynamicCache by default
  (a sliding/chunked layer keeps its last ``window - 1`` tokens, ``DynamicSlidingWindowLayer``), or
  StaticCache with ``transformers_cache="static"`` (``min(window, context)`` slots).
* ``engine="vllm"`` - what vLLM's paged allocator reserves to admit a request of ``context`` tokens:
  block rounding, sliding/chunked reservation with ``max_num_batched_tokens``, hybrid groups with
  padding layers, Mamba page padding (``paged.py``).

When something needed is missing the report is still returned, with ``complete=False``, every total
0 and ``missing`` naming what is absent: a partial total would silently understate, so none is given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import HubmemError
from ..schema.architecture import Architecture
from ..schema.kv import KVCacheReport, KVOptions, KVScenario, LayerKindKV
from .state import DTYPE_BYTES, StateSize, state_size

DEFAULT_CONTEXT = 8192

# --kv-dtype value -> (canonical name, bytes per element); "auto" is resolved from the architecture.
KV_DTYPES: dict[str, tuple[str, int]] = {
    "bfloat16": ("bfloat16", 2),
    "bf16": ("bfloat16", 2),
    "float16": ("float16", 2),
    "fp16": ("float16", 2),
    "half": ("float16", 2),
    "float32": ("float32", 4),
    "fp32": ("float32", 4),
    "fp8": ("float8_e4m3", 1),  # vLLM "fp8" = e4m3
    "fp8_e4m3": ("float8_e4m3", 1),
    "fp8_e5m2": ("float8_e5m2", 1),
    "fp8_ds_mla": ("fp8_ds_mla", 1),
}
FP8_DS_MLA_BYTES = 656  # 512 fp8 NoPE + 4 fp32 scales + 64 bf16 RoPE (vLLM flashmla_sparse.py)


class KVOptionError(HubmemError, ValueError):
    """A KV option that does not apply to this model or engine (e.g. fp8_ds_mla on a non-MLA model).

    A ValueError too, so generic option validation handlers catch it; the CLI shows it like every
    HubmemError (kind ``bad_option``, exit code 2 like a click usage error).
    """

    kind = "bad_option"
    exit_code = 2
    default_hint = (
        "kv_dtype: auto, bf16, fp16, fp32, fp8, fp8_e4m3, fp8_e5m2; fp8_ds_mla for MLA models on vLLM"
    )


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


def _fmt(n: int) -> str:
    return f"{n:,}"


def resolve_kv_dtype(arch: Architecture, options: KVOptions) -> tuple[str, int, list[str]]:
    """(canonical KV dtype, bytes per element, assumptions). Raises KVOptionError for inapplicable options."""
    notes: list[str] = []
    opt = options.kv_dtype
    if opt == "fp8_ds_mla":
        if arch.mla is None:
            raise KVOptionError("kv_dtype fp8_ds_mla is an MLA cache layout; this model has no MLA layers")
        if options.engine != "vllm":
            raise KVOptionError("kv_dtype fp8_ds_mla is vLLM's FlashMLA-sparse layout; use engine=vllm")
    sparse_mla = options.engine == "vllm" and arch.mla is not None and bool(arch.mla.index_head_dim)
    if sparse_mla and opt in ("auto", "fp8", "fp8_e4m3", "fp8_e5m2"):
        notes.append(
            "vLLM stores DeepSeek-V3.2's MLA cache as fp8_ds_mla when kv_dtype is auto or fp8 "
            "(DeepseekV32ForCausalLM.verify_and_update_config)"
        )
        opt = "fp8_ds_mla"
    if opt == "auto":
        act = arch.dtype if arch.dtype in DTYPE_BYTES else None
        if act is None:
            notes.append("kv_dtype auto: the model's activation dtype is unknown; bfloat16 assumed")
            act = "bfloat16"
        elif arch.dtype_source == "default":
            notes.append("kv_dtype auto: no dtype in config.json nor in the tensors; bfloat16 assumed")
        else:
            notes.append(f"kv_dtype auto = the model's activation dtype {act} (from {arch.dtype_source})")
        return act, DTYPE_BYTES[act], notes
    name, size = KV_DTYPES[opt]
    return name, size, notes


def _context(arch: Architecture, options: KVOptions) -> tuple[int, str | None]:
    if options.context is not None:
        note = None
        if arch.max_context is not None and options.context > arch.max_context:
            note = f"context {_fmt(options.context)} exceeds the model's max_context {_fmt(arch.max_context)}"
        return options.context, note
    if arch.max_context is not None and arch.max_context < DEFAULT_CONTEXT:
        return (
            arch.max_context,
            f"context defaults to the model's max_context {_fmt(arch.max_context)} (< 8,192)",
        )
    return DEFAULT_CONTEXT, "context defaults to 8,192 tokens"


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
        formula = f"{nkv} KV heads x ({hd} + {hdv}) x {kv_b} B = {_fmt(per_token)} B/token/layer"
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
                f"x {kv_b} B = {_fmt(mla_per_token)} B/token/layer (no factor 2: K and V share the latent)"
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
                layer.formula += f", for {_fmt(enc_len)} encoder tokens"
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
        assumptions.append(f"cross-attention caches {_fmt(enc_len)} encoder tokens per sequence ({src})")
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
            + (" (ssm_dtype option)" if options.ssm_dtype != "auto" else _ssm_auto_note(arch, engine))
        )
    if kv_dtype.startswith("float8") and engine == "transformers":
        assumptions.append(
            "fp8 KV in transformers (QuantizedCache, fp8 backend) modelled as 1 byte/element; its scales and "
            "unquantized residual tokens are not counted"
        )
    return CachePlan(layers, kv_dtype, kv_b, state_dtype, assumptions, missing)


def _ssm_auto_note(arch: Architecture, engine: str) -> str:
    if engine == "transformers":
        return " (transformers keeps the float32 state its scans return)"
    if arch.mamba is not None and arch.mamba.ssm_cache_dtype:
        return f" (config mamba_ssm_cache_dtype={arch.mamba.ssm_cache_dtype}, honoured by vLLM)"
    return " (vLLM mamba_ssm_cache_dtype auto = the conv dtype)"


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
class _Evaluation:
    by_kind: dict[str, LayerKindKV]
    kv_bytes: int  # per sequence
    state_bytes: int  # per sequence


def _aggregate(
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


def _evaluate_transformers(plan: CachePlan, context: int, cache: str) -> _Evaluation:
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
    return _Evaluation(_aggregate(plan.layers, tokens, bytes_, {}), kv, state)


def _evaluate(
    plan: CachePlan, arch: Architecture, options: KVOptions, context: int
) -> tuple[_Evaluation, object]:
    if options.engine == "vllm":
        from .paged import vllm_view

        view = vllm_view(plan, arch, options, context)
        ev = _Evaluation(
            _aggregate(plan.layers, view.tokens, view.bytes, view.padding),
            view.kv_reserved,
            view.state_reserved,
        )
        return ev, view
    return _evaluate_transformers(plan, context, options.transformers_cache), None


def estimate_kv_cache(arch: Architecture, options: KVOptions) -> KVCacheReport:
    """Project KV cache + recurrent state for ``options.batch`` sequences of ``options.context`` tokens."""
    plan = build_plan(arch, options)
    context, context_note = _context(arch, options)
    batch = options.batch
    assumptions = list(plan.assumptions)
    if context_note:
        assumptions.insert(0, context_note)
    if options.engine == "transformers":
        if options.transformers_cache == "dynamic":
            assumptions.insert(
                0,
                "engine=transformers, DynamicCache (generate() default): full layers hold every token; "
                "sliding/chunked layers keep their last window-1 tokens (DynamicSlidingWindowLayer)",
            )
        else:
            assumptions.insert(
                0,
                "engine=transformers, StaticCache(max_cache_len=context): full layers allocate context "
                "slots; sliding/chunked layers min(window, context) (StaticSlidingWindowLayer)",
            )
    missing = list(plan.missing)
    per_token = sum(layer.per_token for layer in plan.layers if layer.unbounded)
    all_layers = sum(layer.per_token for layer in plan.layers if layer.fixed_tokens is None)

    report = KVCacheReport(
        engine=options.engine,
        dtype=plan.kv_dtype,
        state_dtype=plan.state_dtype,
        bytes_per_token=per_token,
        bytes_per_token_all_layers=all_layers,
        context=context,
        batch=batch,
        total_bytes=0,
        assumptions=assumptions,
        missing=missing,
    )
    if missing:
        report.complete = False
        report.bytes_per_token = report.bytes_per_token_all_layers = 0
        report.assumptions.append("incomplete: totals are 0 rather than a partial figure; see missing")
        return report

    ev, view = _evaluate(plan, arch, options, context)
    if view is not None:
        from .paged import VllmView

        assert isinstance(view, VllmView)
        if view.missing:
            report.missing.extend(view.missing)
            report.complete = False
            report.bytes_per_token = report.bytes_per_token_all_layers = 0
            report.assumptions.extend(view.assumptions)
            report.assumptions.append("incomplete: totals are 0 rather than a partial figure; see missing")
            return report
        report.paged = view.paged
        report.assumptions.extend(view.assumptions)
    for entry in ev.by_kind.values():
        entry.bytes *= batch
    report.by_layer_kind = ev.by_kind
    report.kv_bytes = ev.kv_bytes * batch
    report.state_bytes = ev.state_bytes * batch
    report.state_bytes_per_sequence = ev.state_bytes
    report.total_bytes = report.kv_bytes + report.state_bytes
    report.scenarios.append(
        KVScenario(
            label="requested",
            context=context,
            batch=batch,
            total_bytes=report.total_bytes,
            kv_bytes=report.kv_bytes,
            state_bytes=report.state_bytes,
        )
    )
    if arch.max_context is not None and arch.max_context != context:
        ev_max, view_max = _evaluate(plan, arch, options, arch.max_context)
        if not (view_max is not None and getattr(view_max, "missing", None)):
            report.scenarios.append(
                KVScenario(
                    label="max_context",
                    context=arch.max_context,
                    batch=batch,
                    total_bytes=(ev_max.kv_bytes + ev_max.state_bytes) * batch,
                    kv_bytes=ev_max.kv_bytes * batch,
                    state_bytes=ev_max.state_bytes * batch,
                )
            )
    return report
