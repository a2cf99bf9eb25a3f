"""Quantization formats: the :class:`QuantScheme` a checkpoint uses, the tensor-name and dtype tables the
counting rules share, and how many values an integer container packs (see ``quant_roles.py``)."""

from __future__ import annotations

from typing import Any

import msgspec

# huggingface.js QUANTIZATION_AUXILIARY_SUFFIXES, plus scales that are scalars in the files where
# they occur (huggingface.js skips every scalar, so it never needed to name them): FBGEMM
# ``input_scale_ub``, KV-cache / attention scales of ModelOpt and compressed-tensors.
AUX_SUFFIXES = frozenset(
    {
        "weight_scale",
        "weight_scale_inv",
        "weight_scale_2",
        "weight_global_scale",
        "weight_zero_point",
        "input_scale",
        "input_global_scale",
        "input_zero_point",
        "zero_point",
        "weight_shape",
        "weight_g_idx",
        "input_scale_ub",
        "activation_scale",
        "output_scale",
        "k_scale",
        "v_scale",
        "q_scale",
        "kv_scale",
        "prob_scale",
    }
)
GPTQ_AUX_SUFFIXES = frozenset({"qzeros", "g_idx", "scales"})
BNB4_AUX_SUFFIXES = frozenset({"absmax", "quant_map", "nested_absmax", "nested_quant_map"})
BNB8_AUX_SUFFIXES = frozenset({"SCB", "weight_format"})
SCALE_ONLY_DTYPES = frozenset({"F8_E8M0"})  # MX block exponents, never parameters
FP8_DTYPES = frozenset({"F8_E4M3", "F8_E5M2", "F8_E4M3FNUZ", "F8_E5M2FNUZ"})
INT_CONTAINER_BITS: dict[str, int] = {"U8": 8, "I8": 8, "U16": 16, "I16": 16, "U32": 32, "I32": 32}
_SUB_BYTE_FORMAT_BITS = (
    ("nvfp4", 4),
    ("mxfp4", 4),
    ("fp4", 4),
    ("int4", 4),
    ("uint4", 4),
    ("nf4", 4),
    ("int2", 2),
)


def bits_from_format(text: str | None) -> int | None:
    """Bit width named in a free-form format string (``"nvfp4-pack-quantized"`` -> 4)."""
    if not text:
        return None
    low = text.lower()
    for pattern, bits in _SUB_BYTE_FORMAT_BITS:
        if pattern in low:
            return bits
    return None


def packed_parameters(numel: int, dtype: str, bits: float | None) -> tuple[int, bool]:
    """Logical values in ``numel`` integer containers holding ``bits``-bit values.

    Returns ``(parameters, exact)``; ``exact`` is false when the ratio is not a whole number of
    values (the last container of a row may be padding, so the count is an upper bound).
    """
    container = INT_CONTAINER_BITS.get(dtype)
    if not container or not bits or bits <= 0 or bits >= container:
        return numel, True
    total = numel * container
    if float(bits).is_integer() and total % int(bits) == 0:
        return total // int(bits), True
    return round(total / bits), False


class QuantScheme(msgspec.Struct):
    """A checkpoint's quantization format as far as counting needs it."""

    method: str  # gptq, awq, bitsandbytes-4bit/-8bit, compressed-tensors, fp8, mxfp4, modelopt, mlx ...
    layout: str  # the counting rules used: gptq, bnb4, bnb8, mxfp4, fp8, compressed, modelopt, mlx, generic
    source: str  # where it was found
    bits: float | None = None
    group_size: int | None = None
    format: str | None = None  # compressed-tensors format / ModelOpt quant_algo / fp8 fmt
    modules_to_not_convert: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    # compressed-tensors config groups: (targets, num_bits, format)
    groups: tuple[tuple[tuple[str, ...], int | None, str | None], ...] = ()
    expert_bits: int | None = None  # ``expert_dtype`` (DeepSeek-V4 "fp4"): packing of routed experts
    per_module: dict[str, Any] = {}  # MLX / ModelOpt per-module overrides
    notes: list[str] = []


def as_dict(v: object) -> dict[str, Any] | None:
    return v if isinstance(v, dict) else None
