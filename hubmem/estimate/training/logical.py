"""Logical tensors: the checkpoint's real tensor list as the model sees it (theory.md section 4).

Packed quantized weights are unpacked to their logical shape and auxiliary tensors (scales, zeros,
absmax ...) are folded into the module they belong to, so per-tensor training rules see the real shapes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from hubmem.estimate.weights.names import module_name
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


@dataclass(frozen=True)
class LogicalTensor:
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


def logical_tensors(
    tensors: Sequence[Tensor], *, quant: str | None, bits: int = 4, arch: Architecture | None = None
) -> list[LogicalTensor]:
    """Unpack the real tensor list into logical tensors (see ``LogicalTensor``)."""
    names = {t.name for t in tensors}
    aux_bytes: dict[str, int] = {}
    out: list[LogicalTensor] = []
    for t in tensors:
        mod, _, leaf = t.name.rpartition(".")

        def sibling(other: str, mod: str = mod) -> str:
            return f"{mod}.{other}" if mod else other

        aux = (
            leaf in AUX_LEAVES
            or t.dtype == "F8_E8M0"
            or ".quant_state." in t.name
            or (leaf == "scales" and (sibling("qweight") in names or quant == "mlx"))
            or (leaf == "biases" and quant == "mlx" and sibling("scales") in names)
            or (leaf.endswith("_scales") and t.dtype == "U8" and sibling(leaf[:-7] + "_blocks") in names)
        )
        if aux:
            owner = mod[: -len(".quant_state")] if ".quant_state." in t.name else mod
            if leaf.endswith("_scales") and t.dtype == "U8":
                owner = sibling(leaf[:-7])
            aux_bytes[owner] = aux_bytes.get(owner, 0) + t.nbytes
            continue
        shape: tuple[int, ...] | None = t.shape
        name, packed, inferred = t.name, False, False
        rows = t.shape[0] if t.shape else 1
        cols = t.shape[-1] if t.shape else 1
        container = DTYPE_BITS[t.dtype]
        if leaf == "qweight" and len(t.shape) == 2:
            per = container // bits
            shape = (cols, rows * per) if quant != "awq" else (cols * per, rows)
            name, packed = sibling("weight"), True
        elif leaf == "weight_packed" and len(t.shape) == 2:
            per = 2 if t.dtype == "U8" else container // bits
            shape, name, packed = (rows, cols * per), sibling("weight"), True
        elif leaf.endswith("_blocks") and t.dtype == "U8" and len(t.shape) >= 2:
            shape = (*t.shape[:-2], t.shape[-2] * t.shape[-1] * 2)
            name, packed = sibling(leaf[: -len("_blocks")]), True
        elif leaf == "weight" and quant == "nvfp4" and t.dtype == "U8" and len(t.shape) == 2:
            shape, packed = (rows, cols * 2), True
        elif leaf == "weight" and quant == "mlx" and t.dtype == "U32" and len(t.shape) == 2:
            shape, packed = (rows, cols * (32 // bits)), True
        elif leaf == "weight" and (t.name + ".absmax" in names or t.name + ".quant_map" in names):
            # bitsandbytes 4-bit: [(n + 1) // 2, 1] bytes of quant_storage; logical n = numel * 2 * itemsize
            numel = t.numel * 2 * (container // 8)
            guess = _linear_shape_from_config(mod, arch) if arch is not None else None
            if guess is not None and math.prod(guess) in (numel, numel - 1):
                shape, inferred, numel = guess, True, math.prod(guess)
            else:
                shape = None
            out.append(LogicalTensor(name, shape, numel, t.nbytes, t.dtype, True, False, inferred))
            continue
        is_param = t.dtype in FLOAT_DTYPES or packed or (quant is not None and leaf == "weight")
        params = math.prod(shape) if shape is not None else t.numel
        out.append(LogicalTensor(name, shape, params, t.nbytes, t.dtype, packed, not is_param, inferred))
    if aux_bytes:
        by_module = {module_name(lt.name): i for i, lt in enumerate(out)}
        by_name = {lt.name: i for i, lt in enumerate(out)}
        for owner, nbytes in aux_bytes.items():
            i = by_name.get(owner, by_module.get(owner))
            if i is None:
                out.append(LogicalTensor(owner + ".<aux>", (0,), 0, nbytes, "U8", buffer=True))
                continue
            lt = out[i]
            out[i] = LogicalTensor(
                lt.name,
                lt.shape,
                lt.params,
                lt.stored_bytes + nbytes,
                lt.dtype,
                lt.packed,
                lt.buffer,
                lt.shape_inferred,
            )
    return out
