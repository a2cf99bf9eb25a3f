"""safetensors dtypes and their sizes (safetensors/src/tensor.rs ``Dtype::bitsize``)."""

from __future__ import annotations

DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E4M3": 8,
    "F8_E5M2": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "F8_E8M0": 8,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "F4": 4,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "I64": 64,
    "U64": 64,
    "F64": 64,
    "C64": 64,
}

# Non-spec spellings seen in the wild (huggingface.js accepts them) -> canonical name.
DTYPE_ALIASES: dict[str, str] = {"E8M0": "F8_E8M0", "UE8": "F8_E8M0", "FP4": "F4"}

# Cache / activation dtype names (config.json, CLI) -> bytes per element.
ACTIVATION_DTYPE_BYTES: dict[str, float] = {
    "float32": 4,
    "fp32": 4,
    "float": 4,
    "float16": 2,
    "fp16": 2,
    "half": 2,
    "bfloat16": 2,
    "bf16": 2,
    "fp8": 1,
    "fp8_e4m3": 1,
    "fp8_e5m2": 1,
    "float8_e4m3fn": 1,
    "float8_e5m2": 1,
    "int8": 1,
}


def canonical_dtype(name: str) -> str | None:
    """The canonical safetensors dtype for ``name``, or None when it is unknown."""
    if name in DTYPE_BITS:
        return name
    return DTYPE_ALIASES.get(name)
