"""Quantization format detection: the settings the config files state (``hubmem.parse.quant``) read
with the tensor names (which layout, which bits when the config omits them), else the tensor names alone."""

from __future__ import annotations

from collections.abc import Callable, Sequence, Set

from hubmem.estimate.weights.quant_scheme import (
    FP8_DTYPES,
    INT_CONTAINER_BITS,
    QuantScheme,
    bits_from_format,
)
from hubmem.formats.safetensors import Tensor
from hubmem.schema.architecture import QuantConfig


def detect_scheme(
    quant: QuantConfig | None,
    tensors: Sequence[Tensor],
    names: Set[str] | None = None,
    patterns: Set[str] | None = None,
) -> QuantScheme | None:
    """The checkpoint's quantization format: what the config files state (``parse/quant.py``), completed
    or, where they state nothing, inferred from the tensor names. ``patterns``: the names with their digits
    masked (``hubmem.estimate.table``), when the caller has them: a suffix without digits is then looked
    for in a few hundred patterns instead of every name."""
    names = names if names is not None else {t.name for t in tensors}
    expert_bits = bits_from_format(quant.expert_dtype if quant else None)
    if quant is None or (not quant.method and quant.source == "config.json expert_dtype"):
        scheme = _infer_from_tensors(tensors, names)
    else:
        scheme = _from_config(
            quant, tensors, names, _any_qweight(patterns if patterns is not None else names)
        )
    if scheme is not None:
        scheme.expert_bits = expert_bits
    return scheme


def _any_qweight(names: Set[str]) -> bool:
    """Does a name end with ``.qweight``? (Masking digits keeps that suffix, and makes none: the names'
    patterns answer as the names do.)"""
    return any(n.endswith(".qweight") for n in names)


def _method(q: QuantConfig, tensors: Sequence[Tensor], names: Set[str], has_qweight: bool) -> str:
    """``quant_method``, or what the config's other keys and the tensors imply when it is absent."""
    if q.method:
        return q.method
    if q.load_in_4bit or q.load_in_8bit:
        return "bitsandbytes"
    if _looks_mlx(tensors, names):
        return "mlx"
    if has_qweight:
        return "gptq"
    return ""


def _from_config(
    q: QuantConfig, tensors: Sequence[Tensor], names: Set[str], has_qweight: bool
) -> QuantScheme:
    method = _method(q, tensors, names, has_qweight)
    if not method:
        inferred = _infer_from_tensors(tensors, names)
        if inferred is not None:
            inferred.source = f"{q.source} (no quant_method) + tensor names"
            return inferred
        return QuantScheme(method="unknown", layout="generic", source=q.source)
    if method in ("gptq", "awq") or (has_qweight and method not in ("compressed-tensors", "mlx")):
        return _gptq(q, method, tensors, names)
    build = _BY_METHOD.get(method)
    if build is not None:
        return build(q, method, tensors)
    s = QuantScheme(method, "generic", q.source, q.bits, q.group_size)
    s.modules_to_not_convert = tuple(q.modules_to_not_convert)
    s.notes.append(f"{method}: packed layouts are not decoded; parameters counted as stored elements")
    return s


def _gptq(q: QuantConfig, method: str, tensors: Sequence[Tensor], names: Set[str]) -> QuantScheme:
    group = q.group_size if q.group_size and q.group_size > 0 else None
    s = QuantScheme(method, "gptq", q.source, q.bits, group)
    s.modules_to_not_convert = tuple(q.modules_to_not_convert)
    if s.bits is None:
        s.bits = _infer_gptq_bits(tensors, names)
        s.notes.append(f"bits not in the config; {s.bits:g} inferred from qweight / g_idx shapes")
    if method not in ("gptq", "awq"):
        s.notes.append(f"{method}: counted with the GPTQ qweight/qzeros/scales layout")
    return s


def _bitsandbytes(q: QuantConfig, method: str, tensors: Sequence[Tensor]) -> QuantScheme:
    if q.load_in_4bit:
        fmt = q.bnb_4bit_quant_type or "nf4"
        s = QuantScheme("bitsandbytes-4bit", "bnb4", q.source, 4, _bnb_blocksize(tensors), fmt)
        if q.bnb_double_quant:
            s.notes.append("double quantization: absmax stored 8-bit with nested_absmax / nested_quant_map")
    else:
        s = QuantScheme("bitsandbytes-8bit", "bnb8", q.source, 8, None, "int8")
    s.modules_to_not_convert = tuple(q.llm_int8_skip_modules or q.modules_to_not_convert)
    return s


def _mxfp4(q: QuantConfig, method: str, tensors: Sequence[Tensor]) -> QuantScheme:
    return QuantScheme("mxfp4", "mxfp4", q.source, 4, 32, "mxfp4", tuple(q.modules_to_not_convert))


def _fp8(q: QuantConfig, method: str, tensors: Sequence[Tensor]) -> QuantScheme:
    s = QuantScheme(method, "fp8", q.source, 8, None, q.fmt or "e4m3", tuple(q.modules_to_not_convert))
    if q.weight_block_size:
        blocks = "x".join(str(b) for b in q.weight_block_size)
        s.notes.append(f"block-wise scales {blocks} (weight_scale_inv, F32)")
    return s


def _modelopt(q: QuantConfig, method: str, tensors: Sequence[Tensor]) -> QuantScheme:
    algo = q.quant_algo
    bits4 = any(k in algo for k in ("FP4", "INT4", "W4"))
    bits = 4 if bits4 else 8 if "FP8" in algo or "INT8" in algo else None
    group = q.group_size or (16 if "NVFP4" in algo else None)
    s = QuantScheme(
        "modelopt", "modelopt", q.source, bits, group, algo or None, tuple(q.modules_to_not_convert)
    )
    s.per_module = dict(q.per_module)
    return s


def _mlx(q: QuantConfig, method: str, tensors: Sequence[Tensor]) -> QuantScheme:
    s = QuantScheme("mlx", "mlx", q.source, q.bits or 4, q.group_size)
    s.per_module = dict(q.per_module)
    s.notes.append("MLX packs into U32; the Hub does not unpack these (hub-docs #2704)")
    return s


def _compressed(q: QuantConfig, method: str, tensors: Sequence[Tensor]) -> QuantScheme:
    widths = {b for _, b, _ in q.groups if b}
    bits: float | None = float(next(iter(widths))) if len(widths) == 1 else None
    s = QuantScheme("compressed-tensors", "compressed", q.source, bits, q.groups_group_size, q.format)
    s.groups = tuple((tuple(targets), b, fmt) for targets, b, fmt in q.groups)
    s.ignore = tuple(q.ignore)
    if len(widths) > 1:
        s.notes.append("mixed precision: bit widths " + ", ".join(str(b) for b in sorted(widths)))
    return s


_BY_METHOD: dict[str, Callable[[QuantConfig, str, Sequence[Tensor]], QuantScheme]] = {
    "bitsandbytes": _bitsandbytes,
    "mxfp4": _mxfp4,
    "compressed-tensors": _compressed,
    "sparseml": _compressed,
    "fp8": _fp8,
    "fbgemm_fp8": _fp8,
    "finegrained_fp8": _fp8,
    "modelopt": _modelopt,
    "mlx": _mlx,
}


def _looks_mlx(tensors: Sequence[Tensor], names: Set[str]) -> bool:
    return any(
        t.dtype == "U32" and t.name.endswith(".weight") and t.name[:-7] + ".scales" in names for t in tensors
    )


def _looks_mxfp4(tensors: Sequence[Tensor], leaves: Set[str]) -> bool:
    """U8 ``*_blocks`` beside ``*_scales`` (``leaves``: what follows the last "." of every name)."""
    return (
        any(leaf.endswith("_blocks") for leaf in leaves)
        and any(leaf.endswith("_scales") for leaf in leaves)
        and any(t.dtype == "U8" and t.name.endswith("_blocks") for t in tensors)
    )


def _infer_gptq_bits(tensors: Sequence[Tensor], names: Set[str]) -> float:
    by_name = {t.name: t for t in tensors}
    for t in tensors:
        if not t.name.endswith(".qweight") or len(t.shape) != 2:
            continue
        mod = t.name[: -len(".qweight")]
        gidx = by_name.get(mod + ".g_idx")
        if gidx is not None and gidx.shape and gidx.shape[0]:
            return t.shape[0] * INT_CONTAINER_BITS.get(t.dtype, 32) / gidx.shape[0]
        scales = by_name.get(mod + ".scales")
        if scales is not None and len(scales.shape) == 2 and scales.shape[1]:  # AWQ [in, out*bits/32]
            return t.shape[1] * INT_CONTAINER_BITS.get(t.dtype, 32) / scales.shape[1]
    return 4.0


def _bnb_blocksize(tensors: Sequence[Tensor]) -> int | None:
    """bitsandbytes 4-bit block size = values / absmax entries (64 by default)."""
    by_name = {t.name: t for t in tensors}
    for t in tensors:
        if t.name.endswith(".weight.absmax") and t.numel:
            w = by_name.get(t.name[: -len(".absmax")])
            if w is not None:
                return round(w.nbytes * 2 / t.numel)
    return None


def _infer_from_tensors(tensors: Sequence[Tensor], names: Set[str]) -> QuantScheme | None:
    src = "tensor names (no quantization config found)"
    # the last segment of every name, once: each suffix test below is then a set lookup, not a pass
    leaves = {n.rpartition(".")[2] for n in names}
    dotted = {n.rpartition(".")[2] for n in names if "." in n}  # what follows the last "." of a name
    if "qweight" in dotted:
        method = "gptq" if "g_idx" in dotted else "awq"
        bits = _infer_gptq_bits(tensors, names)
        s = QuantScheme(method, "gptq", src, bits)
        s.notes.append(f"bits {bits:g} inferred from qweight shapes")
        return s
    if ".quant_state.bitsandbytes__" in "\n".join(names) or (  # one search, in C
        "absmax" in dotted and any(n.endswith(".weight.absmax") for n in names)
    ):
        return QuantScheme("bitsandbytes-4bit", "bnb4", src, 4, _bnb_blocksize(tensors))
    if "SCB" in dotted:
        return QuantScheme("bitsandbytes-8bit", "bnb8", src, 8)
    if _looks_mxfp4(tensors, leaves):
        return QuantScheme("mxfp4", "mxfp4", src, 4, 32, "mxfp4")
    if "weight_packed" in dotted:
        s = QuantScheme("compressed-tensors", "compressed", src, None)
        s.notes.append("no config_groups: 4-bit packing assumed")
        return s
    if "weight_scale_2" in dotted:
        return QuantScheme("modelopt", "modelopt", src, 4, 16, "NVFP4")
    if "weight_scale_inv" in dotted:
        return QuantScheme("fp8", "fp8", src, 8, None, "e4m3")
    if "scales" in dotted and _looks_mlx(tensors, names):
        s = QuantScheme("mlx", "mlx", src, 4)
        s.notes.append("MLX bits not in a config; 4 assumed")
        return s
    if "weight_scale" in dotted and any(t.dtype in FP8_DTYPES for t in tensors):
        return QuantScheme("fp8", "fp8", src, 8)
    return None
