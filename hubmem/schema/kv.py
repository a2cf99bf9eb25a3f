"""KV cache / recurrent state section (projected)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .common import Model

KVEngine = Literal["transformers", "vllm"]


class KVOptions(Model):
    context: int | None = Field(default=None, ge=1, description="tokens per sequence; None = 8192")
    batch: int = Field(default=1, ge=1)
    kv_dtype: str = "auto"  # auto = the model's activation dtype; fp8, fp8_e4m3, fp8_e5m2, bf16, fp16, fp32, fp8_ds_mla
    engine: KVEngine = "transformers"
    block_size: int | None = Field(default=None, ge=1)  # vLLM; None = 16 (64 for MLA)
    max_num_batched_tokens: int = Field(default=8192, ge=1)  # vLLM
    encoder_length: int | None = Field(default=None, ge=1)  # encoder-decoder models
    ssm_dtype: str = "auto"  # recurrent SSM state dtype; auto = cache dtype


class LayerKindKV(Model):
    layers: int
    bytes_per_token: int  # per token held, summed over these layers
    tokens_held: int  # per sequence, for the scenario's context
    bytes: int  # total for the scenario (batch included)
    state_bytes_per_sequence: int = 0


class KVScenario(Model):
    context: int
    batch: int
    total_bytes: int


class KVCacheReport(Model):
    basis: Literal["projected"] = "projected"
    engine: KVEngine = "transformers"
    dtype: str
    bytes_per_token: int  # growth per token per sequence (layers whose cache grows with context)
    context: int
    batch: int
    total_bytes: int  # KV + recurrent state for batch x context
    state_bytes_per_sequence: int = 0  # recurrent (Mamba/DeltaNet) state, constant in context
    by_layer_kind: dict[str, LayerKindKV] = {}
    scenarios: list[KVScenario] = []  # e.g. the model's maximum context
    assumptions: list[str] = []
    missing: list[str] = []  # why a part could not be projected
