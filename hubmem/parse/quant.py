"""Where a checkpoint states its quantization, and what it states (docs/theory.md 3.2).

Sources, first found wins: config.json ``quantization_config`` / ``compression_config`` (root, then the
text config), quantize_config.json (AutoGPTQ), quant_config.json (AutoAWQ), hf_quant_config.json
(ModelOpt), config.json ``quantization`` (MLX). What the tensors themselves show is decided later, in
``hubmem.estimate.weights.quant_detect``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from hubmem.parse.reader import Reader
from hubmem.schema.architecture import QuantConfig


def _as_int(v: object) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and v.strip().isdigit():
        return int(v.strip())
    return None


def _strings(v: object) -> list[str]:
    return [str(x) for x in v] if isinstance(v, list) else []


def _dict(v: object) -> dict[str, Any] | None:
    return v if isinstance(v, dict) else None


def _find(root: Reader, r: Reader, files: Mapping[str, Any]) -> tuple[dict[str, Any], str] | None:
    """The quantization settings object and where it was found (``files``: companions by file name)."""
    for reader in (root, r):
        for key in ("quantization_config", "compression_config"):
            if d := _dict(reader.raw(key)):
                return dict(d), f"config.json {key}"
    if d := _dict(files.get("quantize_config.json")):
        qc = dict(d)
        qc.setdefault("quant_method", str(qc.get("checkpoint_format") or "gptq"))
        return qc, "quantize_config.json"
    if d := _dict(files.get("quant_config.json")):  # AutoAWQ
        return {"quant_method": "awq", **d}, "quant_config.json"
    if d := _dict(files.get("hf_quant_config.json")):
        return {"quant_method": "modelopt", **(_dict(d.get("quantization")) or {})}, "hf_quant_config.json"
    if d := _dict(root.raw("quantization")):  # MLX
        return {"quant_method": "mlx", **d}, "config.json quantization (MLX)"
    return None


def _compressed_fields(qc: dict[str, Any]) -> dict[str, Any]:
    groups: list[tuple[list[str], int | None, str | None]] = []
    group_size = None
    for g in (_dict(qc.get("config_groups")) or {}).values():
        if not isinstance(g, dict):
            continue
        w = _dict(g.get("weights")) or {}
        fmt = g.get("format")
        groups.append((_strings(g.get("targets")), _as_int(w.get("num_bits")), str(fmt) if fmt else None))
        if group_size is None:
            group_size = _as_int(w.get("group_size")) or None
    return {
        "groups": groups,
        "groups_group_size": group_size,
        "format": str(qc.get("format") or "") or None,
        "ignore": _strings(qc.get("ignore")),
    }


def _per_module(method: str, qc: dict[str, Any]) -> dict[str, object]:
    """ModelOpt ``quantized_layers``; otherwise the per-module objects MLX keeps beside ``bits`` (kept also
    when ``quant_method`` is absent: MLX configs name none, the tensors tell)."""
    if method == "modelopt":
        return dict(_dict(qc.get("quantized_layers")) or {})
    return {k: v for k, v in qc.items() if isinstance(v, dict | bool)}


def read_quantization(root: Reader, r: Reader) -> dict[str, Any] | None:
    """config.json's own ``quantization_config`` / ``compression_config`` object as it stands (top level
    first; an empty object counts here, unlike in :func:`read_quant_config`)."""
    for reader in (root, r):
        for key in ("quantization_config", "compression_config"):
            d = reader.get_dict(key)
            if d is not None:
                return d
    return None


def read_quant_config(root: Reader, r: Reader, companions: Mapping[str, Any]) -> QuantConfig | None:
    """The quantization settings the config files state, or None when none do."""
    expert_dtype = root.raw("expert_dtype") if root.raw("expert_dtype") is not None else r.raw("expert_dtype")
    found = _find(root, r, {PurePosixPath(path).name: v for path, v in companions.items()})
    if found is None:
        if expert_dtype is None:
            return None
        return QuantConfig(source="config.json expert_dtype", expert_dtype=str(expert_dtype))
    qc, source = found
    method = str(qc.get("quant_method") or "").lower()
    bits = qc.get("bits", qc.get("w_bit"))
    block = qc.get("weight_block_size")
    skip = qc.get("llm_int8_skip_modules")
    return QuantConfig(
        source=source,
        method=method,
        bits=float(bits) if isinstance(bits, int | float) and not isinstance(bits, bool) else None,
        group_size=_as_int(qc.get("group_size", qc.get("q_group_size"))),
        modules_to_not_convert=_strings(qc.get("modules_to_not_convert") or qc.get("exclude_modules")),
        load_in_4bit=bool(qc.get("load_in_4bit") or qc.get("_load_in_4bit")),
        load_in_8bit=bool(qc.get("load_in_8bit") or qc.get("_load_in_8bit")),
        bnb_4bit_quant_type=str(qc["bnb_4bit_quant_type"]) if qc.get("bnb_4bit_quant_type") else None,
        bnb_double_quant=bool(qc.get("bnb_4bit_use_double_quant")),
        llm_int8_skip_modules=_strings(skip) if skip else None,
        fmt=str(qc["fmt"]) if qc.get("fmt") else None,
        weight_block_size=[b for b in block if isinstance(b, int)] if isinstance(block, list) else None,
        quant_algo=str(qc.get("quant_algo") or "").upper(),
        per_module=_per_module(method, qc),
        expert_dtype=str(expert_dtype) if expert_dtype is not None else None,
        **_compressed_fields(qc),
    )
