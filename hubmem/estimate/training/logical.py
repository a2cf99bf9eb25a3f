"""Logical tensors: the checkpoint's real tensor list as the model sees it (docs/theory.md section 4).

Packed quantized weights are unpacked to their logical shape and auxiliary tensors (scales, zeros,
absmax ...) are folded into the module they belong to, so per-tensor training rules see the real shapes.
"""

from __future__ import annotations

import math
from collections.abc import Set

import msgspec

from hubmem.estimate.weights.quant_scheme import (
    AUX_SUFFIXES,
    BNB4_AUX_SUFFIXES,
    BNB8_AUX_SUFFIXES,
    GPTQ_AUX_SUFFIXES,
)
from hubmem.formats.dtypes import DTYPE_BITS
from hubmem.formats.safetensors import Tensor
from hubmem.schema.architecture import Architecture
from hubmem.schema.weights import WeightsReport

# quantization bookkeeping tensors, never parameters: the weights section's own lists
# (theory 3.2; huggingface.js QUANTIZATION_AUXILIARY_SUFFIXES)
AUX_LEAVES = AUX_SUFFIXES | GPTQ_AUX_SUFFIXES - {"scales"} | BNB4_AUX_SUFFIXES | BNB8_AUX_SUFFIXES
FLOAT_DTYPES = {
    "F16",
    "BF16",
    "F32",
    "F64",
    "F8_E4M3",
    "F8_E5M2",
    "F8_E4M3FNUZ",
    "F8_E5M2FNUZ",
    "F6_E2M3",
    "F6_E3M2",
    "F4",
}


class LogicalTensor(msgspec.Struct, frozen=True):
    """A checkpoint tensor as the model sees it: logical shape and parameters, stored bytes
    (auxiliary tensors of the same module included)."""

    name: str  # packed names normalised: ``...q_proj.qweight`` -> ``...q_proj.weight``
    shape: tuple[int, ...] | None  # logical shape, [out, in] for linear weights; None = unknown
    params: int
    stored_bytes: int
    dtype: str  # stored dtype
    packed: bool = False
    buffer: bool = False  # integer / bool tensors of an unquantized model (position ids ...): not trainable
    shape_inferred: bool = False  # shape taken from the config (bnb 4-bit flattens it)
    # A group of tensors alike (one name pattern, dtype and shape): ``shape`` and ``params`` are per tensor,
    # ``stored_bytes`` is the group's total, ``names`` every member's name (empty = just ``name``).
    count: int = 1
    names: tuple[str, ...] = ()

    @property
    def members(self) -> tuple[str, ...]:
        return self.names or (self.name,)

    @property
    def total_params(self) -> int:
        return self.params * self.count


# weights-section quantization method (substring) -> the packing family the unpacking rules know
_QUANT_KINDS = (
    ("gptq", "gptq"),
    ("awq", "awq"),
    ("bitsandbytes-8bit", "bnb8"),
    ("bitsandbytes", "bnb4"),
    ("compressed", "compressed-tensors"),
    ("mxfp4", "mxfp4"),
    ("nvfp4", "nvfp4"),
    ("modelopt", "nvfp4"),
    ("mlx", "mlx"),
)


def quant_kind(weights: WeightsReport | None) -> tuple[str | None, int]:
    """Normalised quantization format of the checkpoint and its nominal weight bits (4 when unknown),
    from the weights section's detected scheme."""
    q = weights.quantization if weights is not None else None
    if q is None:
        return None, 4
    raw = q.method.lower()
    kind = next((k for pattern, k in _QUANT_KINDS if pattern in raw), raw)  # fp8 ...: logical shapes kept
    return kind, max(1, int(q.bits)) if q.bits else 4


def _linear_shape_from_config(module: str, arch: Architecture) -> tuple[int, int] | None:
    """[out, in] of well-known Llama-style projections from the config (for formats that flatten weights)."""
    h, nh = arch.hidden_size, arch.num_attention_heads
    if not h or not nh:
        return None
    nkv = arch.num_kv_heads or nh
    hd = arch.head_dim or h // nh
    inter = arch.intermediate_size or 4 * h
    leaf = module.rsplit(".", 1)[-1]
    table = {
        "q_proj": (nh * hd, h),
        "k_proj": (nkv * hd, h),
        "v_proj": (nkv * hd, h),
        "o_proj": (h, nh * hd),
        "gate_proj": (inter, h),
        "up_proj": (inter, h),
        "down_proj": (h, inter),
    }
    return table.get(leaf)


def sibling(mod: str, leaf: str) -> str:
    return f"{mod}.{leaf}" if mod else leaf


class Unpacker:
    """The rules of one checkpoint: which tensors are bookkeeping, and each packed tensor's logical shape."""

    def __init__(self, names: Set[str], quant: str | None, bits: int, arch: Architecture | None) -> None:
        self.names, self.quant, self.bits, self.arch = names, quant, bits, arch

    def aux_owner(self, t: Tensor, mod: str, leaf: str) -> str | None:
        """The module whose bytes an auxiliary tensor (scales, zeros, absmax ...) belongs to, else None."""
        if ".quant_state." in t.name:
            return mod[: -len(".quant_state")]
        mxfp4_scales = leaf.endswith("_scales") and t.dtype == "U8"
        if mxfp4_scales and sibling(mod, leaf[:-7] + "_blocks") in self.names:
            return sibling(mod, leaf[:-7])
        if leaf in AUX_LEAVES or t.dtype == "F8_E8M0":
            return sibling(mod, leaf[:-7]) if mxfp4_scales else mod
        if leaf == "scales" and (self.quant == "mlx" or sibling(mod, "qweight") in self.names):
            return mod
        if leaf == "biases" and self.quant == "mlx" and sibling(mod, "scales") in self.names:
            return mod
        return None

    def packed_shape(self, t: Tensor, mod: str, leaf: str) -> tuple[str, tuple[int, ...]] | None:
        """(logical name, logical shape) of a packed weight; None when ``t`` is not packed."""
        rows, cols = (t.shape[0], t.shape[-1]) if t.shape else (1, 1)
        two_d, container = len(t.shape) == 2, DTYPE_BITS[t.dtype]
        if leaf == "qweight" and two_d:
            per = container // self.bits
            shape = (cols, rows * per) if self.quant != "awq" else (cols * per, rows)
            return sibling(mod, "weight"), shape
        if leaf == "weight_packed" and two_d:
            per = 2 if t.dtype == "U8" else container // self.bits
            return sibling(mod, "weight"), (rows, cols * per)
        if leaf.endswith("_blocks") and t.dtype == "U8" and len(t.shape) >= 2:
            return sibling(mod, leaf[: -len("_blocks")]), (*t.shape[:-2], t.shape[-2] * t.shape[-1] * 2)
        if leaf == "weight" and two_d and self.quant == "nvfp4" and t.dtype == "U8":
            return t.name, (rows, cols * 2)
        if leaf == "weight" and two_d and self.quant == "mlx" and t.dtype == "U32":
            return t.name, (rows, cols * (32 // self.bits))
        return None

    def bnb4(self, t: Tensor, mod: str) -> LogicalTensor:
        """bitsandbytes 4-bit: [(n + 1) // 2, 1] bytes of quant_storage; logical n = numel * 2 * itemsize.
        The logical shape is taken from the config when a Llama-style projection's size matches."""
        numel = t.numel * 2 * (DTYPE_BITS[t.dtype] // 8)
        guess = _linear_shape_from_config(mod, self.arch) if self.arch is not None else None
        if guess is not None and math.prod(guess) in (numel, numel - 1):
            return LogicalTensor(t.name, guess, math.prod(guess), t.nbytes, t.dtype, True, False, True)
        return LogicalTensor(t.name, None, numel, t.nbytes, t.dtype, True, False, False)

    def logical(self, t: Tensor, mod: str, leaf: str) -> LogicalTensor:
        packed = self.packed_shape(t, mod, leaf)
        if packed is not None:
            name, shape = packed
            return LogicalTensor(name, shape, math.prod(shape), t.nbytes, t.dtype, True)
        if leaf == "weight" and (t.name + ".absmax" in self.names or t.name + ".quant_map" in self.names):
            return self.bnb4(t, mod)
        is_param = t.dtype in FLOAT_DTYPES or (self.quant is not None and leaf == "weight")
        return LogicalTensor(t.name, t.shape, t.numel, t.nbytes, t.dtype, False, not is_param)
