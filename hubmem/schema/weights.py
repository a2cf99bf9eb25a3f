"""Weights section: exact bytes from ``data_offsets``, parameters per dtype and per component."""

from __future__ import annotations

from typing import Literal

from .common import Model


class DtypeWeights(Model):
    bytes: int  # sum of end - begin over tensors of this dtype
    parameters: int  # logical parameters (packed formats unpacked; aux tensors excluded)
    elements: int  # raw element count, as the header states (huggingface_hub semantics)
    tensors: int


class ComponentWeights(Model):
    bytes: int
    parameters: int
    tensors: int


class FileWeights(Model):
    path: str
    size: int | None  # real file size when known
    header_length: int
    tensors: int
    bytes: int  # sum of tensor data (end - begin)


class QuantizationInfo(Model):
    method: str  # gptq, awq, bitsandbytes-4bit, bitsandbytes-8bit, compressed-tensors, fp8, mxfp4, nvfp4 ...
    bits: float | None = None  # nominal bits of quantized weights
    group_size: int | None = None
    quantized_parameters: int = 0  # logical parameters stored packed
    quantized_bytes: int = 0  # bytes of packed weight tensors
    aux_tensors: int = 0  # scales, zeros, g_idx, absmax ... (never parameters)
    aux_bytes: int = 0
    bits_per_parameter: float | None = None  # (quantized_bytes + aux_bytes) * 8 / quantized_parameters
    notes: list[str] = []


class MoEInfo(Model):
    num_experts: int
    experts_per_token: int
    shared_experts: int = 0
    moe_layers: int = 0
    dense_layers: int = 0
    expert_parameters: int = 0  # all routed-expert parameters
    total_parameters: int = 0
    active_parameters: int = 0  # per token: everything but the routed experts not selected
    active_bytes: int = 0
    basis: Literal["exact", "projected"] = "exact"


class WeightsReport(Model):
    basis: Literal["exact"] = "exact"
    total_bytes: int
    parameters: int  # logical parameters
    elements: int  # raw element count (what huggingface_hub's get_safetensors_metadata sums)
    tensors: int
    by_dtype: dict[str, DtypeWeights]
    by_component: dict[str, ComponentWeights]
    files: list[FileWeights]
    tied_embeddings: bool | None = None  # lm_head shares the embedding (stored once)
    total_parameters_metadata: int | None = None  # index/header metadata.total_parameters when present
    quantization: QuantizationInfo | None = None
    moe: MoEInfo | None = None
    notes: list[str] = []
