"""Quantization format detection: the quantization config from its various sources (config.json,
quantize_config.json, quant_config.json, hf_quant_config.json, MLX ``quantization``), else the
tensor names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubmem.estimate.weights.quant_scheme import (
    FP8_DTYPES,
    INT_CONTAINER_BITS,
    QuantScheme,
    as_dict,
    as_int,
    bits_from_format,
)
from hubmem.formats.safetensors import Tensor


def _nested(config: Mapping[str, Any] | None, key: str) -> Any:
    """``config[key]`` or the text sub-config's (theory.md 1.1: quantization from cfg then tc)."""
    if not config:
        return None
    if config.get(key) is not None:
        return config[key]
    for sub in ("text_config", "language_config", "llm_config", "decoder", "generator"):
        d = as_dict(config.get(sub))
        if d and d.get(key) is not None:
            return d[key]
    thinker = as_dict(config.get("thinker_config"))
    if thinker:
        tc = as_dict(thinker.get("text_config"))
        if tc and tc.get(key) is not None:
            return tc[key]
    return None


def detect_scheme(
    *,
    quantization_config: Mapping[str, Any] | None,
    config: Mapping[str, Any] | None,
    extra: Mapping[str, Any],
    tensors: list[Tensor],
) -> QuantScheme | None:
    """Find the quantization format: config.json, then quantize_config.json / quant_config.json /
    hf_quant_config.json, MLX ``quantization``, and finally the tensor names themselves."""
    names = {t.name for t in tensors}
    expert_bits = bits_from_format(str(_nested(config, "expert_dtype") or "")) or None
    qc = dict(quantization_config) if quantization_config else None
    source = "config.json quantization_config"
    if qc is None:
        for key in ("quantization_config", "compression_config"):
            d = as_dict(_nested(config, key))
            if d:
                qc, source = dict(d), f"config.json {key}"
                break
    if qc is None and as_dict(extra.get("quantize_config.json")):
        qc, source = dict(extra["quantize_config.json"]), "quantize_config.json"
        qc.setdefault("quant_method", str(qc.get("checkpoint_format") or "gptq"))
    if qc is None and as_dict(extra.get("quant_config.json")):  # AutoAWQ
        qc, source = dict(extra["quant_config.json"]), "quant_config.json"
        qc.setdefault("quant_method", "awq")
    if qc is None and as_dict(extra.get("hf_quant_config.json")):
        q = as_dict(extra["hf_quant_config.json"].get("quantization")) or {}
        qc, source = {"quant_method": "modelopt", **q}, "hf_quant_config.json"
    if qc is None and config and as_dict(config.get("quantization")):  # MLX
        qc, source = {"quant_method": "mlx", **config["quantization"]}, "config.json quantization (MLX)"
    if qc is None:
        scheme = _infer_from_tensors(tensors, names)
        if scheme is not None:
            scheme.expert_bits = expert_bits
        return scheme
    scheme = _from_config(qc, source, tensors, names)
    scheme.expert_bits = expert_bits
    return scheme


def _from_config(qc: dict[str, Any], source: str, tensors: list[Tensor], names: set[str]) -> QuantScheme:
    method = str(qc.get("quant_method") or "").lower()
    has_qweight = any(n.endswith(".qweight") for n in names)
    mtnc = tuple(str(p) for p in (qc.get("modules_to_not_convert") or qc.get("exclude_modules") or []))
    if not method:
        if (
            qc.get("load_in_4bit")
            or qc.get("_load_in_4bit")
            or qc.get("load_in_8bit")
            or qc.get("_load_in_8bit")
        ):
            method = "bitsandbytes"
        elif _looks_mlx(tensors, names):
            method = "mlx"
        elif has_qweight:
            method = "gptq"
        else:
            inferred = _infer_from_tensors(tensors, names)
            if inferred is not None:
                inferred.source = f"{source} (no quant_method) + tensor names"
                return inferred
            return QuantScheme(method="unknown", layout="generic", source=source)
    bits = qc.get("bits", qc.get("w_bit"))
    bits_f = float(bits) if isinstance(bits, int | float) and not isinstance(bits, bool) else None
    group = as_int(qc.get("group_size", qc.get("q_group_size")))
    if method in ("gptq", "awq") or (has_qweight and method not in ("compressed-tensors", "mlx")):
        s = QuantScheme(method, "gptq", source, bits_f, group if group and group > 0 else None)
        s.modules_to_not_convert = mtnc
        if s.bits is None:
            s.bits = _infer_gptq_bits(tensors, names)
            s.notes.append(f"bits not in the config; {s.bits:g} inferred from qweight / g_idx shapes")
        if method not in ("gptq", "awq"):
            s.notes.append(f"{method}: counted with the GPTQ qweight/qzeros/scales layout")
        return s
    if method == "bitsandbytes":
        if qc.get("load_in_4bit") or qc.get("_load_in_4bit"):
            fmt = str(qc.get("bnb_4bit_quant_type") or "nf4")
            s = QuantScheme("bitsandbytes-4bit", "bnb4", source, 4, _bnb_blocksize(tensors), fmt)
            if qc.get("bnb_4bit_use_double_quant"):
                s.notes.append(
                    "double quantization: absmax stored 8-bit with nested_absmax / nested_quant_map"
                )
        else:
            s = QuantScheme("bitsandbytes-8bit", "bnb8", source, 8, None, "int8")
        s.modules_to_not_convert = tuple(str(p) for p in (qc.get("llm_int8_skip_modules") or mtnc))
        return s
    if method == "mxfp4":
        return QuantScheme("mxfp4", "mxfp4", source, 4, 32, "mxfp4", modules_to_not_convert=mtnc)
    if method in ("compressed-tensors", "sparseml"):
        return _compressed(qc, source)
    if method in ("fp8", "fbgemm_fp8", "finegrained_fp8"):
        block = qc.get("weight_block_size")
        s = QuantScheme(
            method, "fp8", source, 8, None, str(qc.get("fmt") or "e4m3"), modules_to_not_convert=mtnc
        )
        if isinstance(block, list) and block:
            s.notes.append(
                "block-wise scales " + "x".join(str(b) for b in block) + " (weight_scale_inv, F32)"
            )
        return s
    if method == "modelopt":
        algo = str(qc.get("quant_algo") or "").upper()
        bits4 = any(k in algo for k in ("FP4", "INT4", "W4"))
        s = QuantScheme(
            "modelopt",
            "modelopt",
            source,
            4 if bits4 else 8 if "FP8" in algo or "INT8" in algo else None,
            as_int(qc.get("group_size")) or (16 if "NVFP4" in algo else None),
            algo or None,
            modules_to_not_convert=mtnc,
        )
        layers = as_dict(qc.get("quantized_layers"))
        if layers:
            s.per_module = layers
        return s
    if method == "mlx":
        s = QuantScheme("mlx", "mlx", source, bits_f or 4, group)
        s.per_module = {k: v for k, v in qc.items() if isinstance(v, dict | bool)}
        s.notes.append("MLX packs into U32; the Hub does not unpack these (hub-docs #2704)")
        return s
    s = QuantScheme(method, "generic", source, bits_f, group, modules_to_not_convert=mtnc)
    s.notes.append(f"{method}: packed layouts are not decoded; parameters counted as stored elements")
    return s


def _compressed(qc: dict[str, Any], source: str) -> QuantScheme:
    groups: list[tuple[tuple[str, ...], int | None, str | None]] = []
    for g in (as_dict(qc.get("config_groups")) or {}).values():
        if not isinstance(g, dict):
            continue
        w = as_dict(g.get("weights")) or {}
        targets = tuple(str(t) for t in (g.get("targets") or []))
        fmt = g.get("format")
        groups.append((targets, as_int(w.get("num_bits")), str(fmt) if fmt else None))
    fmt = str(qc.get("format") or "") or None
    widths = {b for _, b, _ in groups if b}
    bits: float | None = float(next(iter(widths))) if len(widths) == 1 else None
    group_size = None
    for g in (as_dict(qc.get("config_groups")) or {}).values():
        gw = as_dict(g.get("weights")) if isinstance(g, dict) else None
        if gw and as_int(gw.get("group_size")):
            group_size = as_int(gw.get("group_size"))
            break
    s = QuantScheme("compressed-tensors", "compressed", source, bits, group_size, fmt)
    s.groups = tuple(groups)
    s.ignore = tuple(str(t) for t in (qc.get("ignore") or []))
    if len(widths) > 1:
        s.notes.append("mixed precision: bit widths " + ", ".join(str(b) for b in sorted(widths)))
    return s


def _looks_mlx(tensors: list[Tensor], names: set[str]) -> bool:
    return any(
        t.dtype == "U32" and t.name.endswith(".weight") and t.name[:-7] + ".scales" in names for t in tensors
    )


def _infer_gptq_bits(tensors: list[Tensor], names: set[str]) -> float:
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


def _bnb_blocksize(tensors: list[Tensor]) -> int | None:
    """bitsandbytes 4-bit block size = values / absmax entries (64 by default)."""
    by_name = {t.name: t for t in tensors}
    for t in tensors:
        if t.name.endswith(".weight.absmax") and t.numel:
            w = by_name.get(t.name[: -len(".absmax")])
            if w is not None:
                return round(w.nbytes * 2 / t.numel)
    return None


def _infer_from_tensors(tensors: list[Tensor], names: set[str]) -> QuantScheme | None:
    src = "tensor names (no quantization config found)"
    if any(n.endswith(".qweight") for n in names):
        method = "gptq" if any(n.endswith(".g_idx") for n in names) else "awq"
        bits = _infer_gptq_bits(tensors, names)
        s = QuantScheme(method, "gptq", src, bits)
        s.notes.append(f"bits {bits:g} inferred from qweight shapes")
        return s
    if any(".quant_state.bitsandbytes__" in n or n.endswith(".weight.absmax") for n in names):
        return QuantScheme("bitsandbytes-4bit", "bnb4", src, 4, _bnb_blocksize(tensors))
    if any(n.endswith(".SCB") for n in names):
        return QuantScheme("bitsandbytes-8bit", "bnb8", src, 8)
    if any(t.dtype == "U8" and t.name.endswith("_blocks") for t in tensors) and any(
        n.endswith("_scales") for n in names
    ):
        return QuantScheme("mxfp4", "mxfp4", src, 4, 32, "mxfp4")
    if any(n.endswith(".weight_packed") for n in names):
        s = QuantScheme("compressed-tensors", "compressed", src, None)
        s.notes.append("no config_groups: 4-bit packing assumed")
        return s
    if any(n.endswith(".weight_scale_2") for n in names):
        return QuantScheme("modelopt", "modelopt", src, 4, 16, "NVFP4")
    if any(n.endswith(".weight_scale_inv") for n in names):
        return QuantScheme("fp8", "fp8", src, 8, None, "e4m3")
    if _looks_mlx(tensors, names):
        s = QuantScheme("mlx", "mlx", src, 4)
        s.notes.append("MLX bits not in a config; 4 assumed")
        return s
    if any(t.dtype in FP8_DTYPES for t in tensors) and any(n.endswith(".weight_scale") for n in names):
        return QuantScheme("fp8", "fp8", src, 8)
    return None
