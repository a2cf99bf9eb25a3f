"""KV cache / recurrent state section (projected, docs/theory.md section 2)."""

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from hubmem.schema.common import MAX_COUNT, MAX_TOKENS, Model, renamed

KVEngine = Literal["transformers", "vllm", "llama.cpp"]

# Accepted --kv-dtype values. "auto" = the model's activation dtype (never a packed storage dtype).
# "fp8_ds_mla" is vLLM's FlashMLA-sparse layout (656 B per token per layer) and applies to MLA models only.
KVDtype = Literal[
    "auto",
    "bfloat16",
    "bf16",
    "float16",
    "fp16",
    "half",
    "float32",
    "fp32",
    "fp8",
    "fp8_e4m3",
    "fp8_e5m2",
    "fp8_ds_mla",
    # llama.cpp's names (-ctk / -ctv): f16/f32 everywhere, the block-quantized types with engine llama.cpp
    "f16",
    "f32",
    "q8_0",
    "q4_0",
    "q4_1",
    "iq4_nl",
    "q5_0",
    "q5_1",
]
# Recurrent (SSM / DeltaNet) state dtype. "auto": see estimate/state.py.
SSMDtype = Literal["auto", "bfloat16", "bf16", "float16", "fp16", "float32", "fp32"]


class KVOptions(Model):
    context: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TOKENS,
        description="tokens per sequence; None = 8192 (capped at max_context)",
    )
    batch: int = Field(default=1, ge=1, le=MAX_COUNT)
    kv_dtype: KVDtype = "auto"
    engine: KVEngine = "transformers"
    # transformers view: DynamicCache (default in generate(); a sliding layer keeps window-1 tokens) or
    # StaticCache (a sliding layer allocates min(window, context) tokens).
    transformers_cache: Literal["dynamic", "static"] = "dynamic"
    block_size: int | None = Field(
        default=None, ge=1, le=MAX_TOKENS
    )  # vLLM; None = 16 (64 for MLA; enlarged for Mamba hybrids)
    # vLLM; None = vLLM's default (8192 in the per-request KV view; per GPU and version in the engine view)
    max_num_batched_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    disable_hybrid_kv_cache_manager: bool = False  # vLLM --disable-hybrid-kv-cache-manager
    encoder_length: int | None = Field(
        default=None, ge=1, le=MAX_TOKENS
    )  # encoder tokens for cross-attention
    ssm_dtype: Annotated[SSMDtype, BeforeValidator(renamed({"half": "float16"}))] = "auto"
    include_mtp: bool = False  # count multi-token-prediction draft layers (speculative decoding enabled)


class LayerKindKV(Model):
    layers: int
    bytes_per_token: int  # per token held, summed over these layers (0 for recurrent state)
    tokens_held: int  # per sequence, for the scenario's context (vLLM: token slots reserved)
    bytes: int  # total for the scenario (batch included; vLLM: reserved, padding layers included)
    state_bytes_per_sequence: int = 0  # unpadded recurrent state of these layers
    window: int | None = None  # sliding window / chunk size / encoder length that caps tokens_held
    padding_layers: int = 0  # vLLM hybrid allocator padding layers counted in `bytes`
    formula: str | None = None


class KVScenario(Model):
    label: str  # "requested" or "max_context"
    context: int
    batch: int
    total_bytes: int
    kv_bytes: int = 0
    state_bytes: int = 0


class KVGroup(Model):
    """One vLLM KV-cache group: layers sharing one block table (docs/theory.md 2.6)."""

    kind: str
    layers: int  # real layers
    padding_layers: int = 0
    block_size: int
    page_size_bytes: int  # per layer slot per block (after page-size unification / padding)
    blocks_per_request: int  # reserved for one request of `context` tokens
    used_blocks_per_request: int  # blocks holding tokens at the end of such a request


class PagedKV(Model):
    """The vLLM engine view: block rounding, groups and reservation (docs/theory.md 2.3, 2.6)."""

    block_size: int
    max_num_batched_tokens: int
    hybrid_kv_cache_manager: bool
    group_size: int  # layer slots per group (vLLM pads every group to this many layers)
    groups: list[KVGroup] = Field(default_factory=list)
    reserved_bytes_per_request: int  # what vLLM requires to be free to admit one request of `context` tokens
    used_bytes_per_request: int  # block-rounded bytes actually holding tokens at the end of that request
    logical_bytes_per_request: int  # exact tokens x bytes, no block rounding


class KVCacheReport(Model):
    basis: Literal["projected"] = "projected"
    engine: KVEngine = "transformers"
    dtype: str  # resolved KV dtype (bfloat16, float8_e4m3, fp8_ds_mla ...)
    state_dtype: str | None = None  # resolved recurrent SSM/temporal state dtype, when the model has one
    bytes_per_token: int  # steady growth per token per sequence: layers whose cache is not capped by a window
    bytes_per_token_all_layers: int = 0  # growth while every window is still filling (all attention layers)
    context: int
    batch: int
    total_bytes: int  # KV + recurrent state for batch x context (0 when `missing` is not empty)
    kv_bytes: int = 0
    state_bytes: int = 0
    # recurrent (Mamba/DeltaNet) state, constant in context (vLLM view: reserved pages, padding included)
    state_bytes_per_sequence: int = 0
    complete: bool = True  # False when something needed is missing: totals are then 0, never partial
    by_layer_kind: dict[str, LayerKindKV] = Field(default_factory=dict)
    scenarios: list[KVScenario] = Field(
        default_factory=list
    )  # the requested context and the model's maximum context
    paged: PagedKV | None = None  # engine="vllm" only
    assumptions: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)  # why a part could not be projected
