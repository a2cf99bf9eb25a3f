"""Where a checkpoint states its quantization, and what it states (docs/theory.md 3.2).

Sources, first found wins: config.json ``quantization_config`` / ``compression_config`` (root, then the
text config), quantize_config.json (AutoGPTQ), quant_config.json (AutoAWQ), hf_quant_config.json
(ModelOpt), config.json ``quantization`` (MLX). What the tensors themselves show is decided later, in
``hubmem.estimate.weights.quant_detect``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from hubmem.formats.json_reader import check_json_value
from hubmem.parse.reader import MAX_INT, Reader
from hubmem.schema.architecture import QuantConfig

MAX_BITS = 64.0  # a quantized weight's bits


def _as_int(q: Reader, *keys: str) -> int | None:
    """First of ``keys`` holding an integer (a string of digits counts; -1 means "per channel"), bounded."""
    for key in keys:
        v = q.raw(key)
        if isinstance(v, str) and re.fullmatch(r"[0-9]{1,10}", v.strip()):
            v = int(v.strip())
        if v is None:
            continue
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, int) and not isinstance(v, bool) and -1 <= v <= MAX_INT:
            return v
        q.bad(key, v, f"an integer from -1 to {MAX_INT:,}")
    return None


def _strings(q: Reader, key: str) -> list[str]:
    """A list of module names; a single string counts as a list of one (as transformers accepts)."""
    value = q.raw(key)
    if isinstance(value, str):
        return [value]
    return q.get_str_list(key) or []


def _text(q: Reader, key: str) -> str | None:
    """A short setting (``fmt``, ``format``, ``bnb_4bit_quant_type``): a string or a number, else invalid."""
    value = q.raw(key)
    if value is None or value == "":
        return None
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    q.bad(key, value, "a string")
    return None


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


def _compressed_fields(q: Reader) -> dict[str, Any]:
    groups: list[tuple[list[str], int | None, str | None]] = []
    group_size = None
    config_groups = q.sub("config_groups")
    for name in config_groups.data if config_groups is not None else {}:
        g = config_groups.sub(name) if config_groups is not None else None
        if g is None:
            continue
        w = g.sub("weights") or Reader({})
        groups.append((_strings(g, "targets"), _as_int(w, "num_bits"), _text(g, "format")))
        if group_size is None:
            group_size = _as_int(w, "group_size") or None
    return {
        "groups": groups,
        "groups_group_size": group_size,
        "format": _text(q, "format"),
        "ignore": _strings(q, "ignore"),
    }


def _per_module(method: str, q: Reader) -> dict[str, object]:
    """ModelOpt ``quantized_layers``; otherwise the per-module objects MLX keeps beside ``bits`` (kept also
    when ``quant_method`` is absent: MLX configs name none, the tensors tell)."""
    if method == "modelopt":
        return dict(q.get_dict("quantized_layers") or {})
    return {k: v for k, v in q.data.items() if isinstance(v, dict | bool)}


def read_quantization(root: Reader, r: Reader) -> dict[str, Any] | None:
    """config.json's own ``quantization_config`` / ``compression_config`` object as it stands (top level
    first; an empty object counts here, unlike in :func:`read_quant_config`)."""
    for reader in (root, r):
        for key in ("quantization_config", "compression_config"):
            d = reader.get_dict(key)
            if d is None:
                continue
            try:  # quoted in the report as it stands: it must be JSON that reads back
                check_json_value(d)
            except ValueError as exc:
                reader.bad(key, d, f"a JSON object ({exc})")
                return None
            return d
    return None


def read_quant_config(root: Reader, r: Reader, companions: Mapping[str, Any]) -> QuantConfig | None:
    """The quantization settings the config files state, or None when none do; values of the wrong type or
    out of range are named in ``root.problems`` (``Architecture.missing``) and left out."""
    expert_dtype = root.get_str("expert_dtype") or r.get_str("expert_dtype")
    found = _find(root, r, {PurePosixPath(path).name: v for path, v in companions.items()})
    if found is None:
        if expert_dtype is None:
            return None
        return QuantConfig(source="config.json expert_dtype", expert_dtype=expert_dtype)
    qc, source = found
    q = Reader(qc, where=f"{source}: ", problems=root.problems)
    method = (_text(q, "quant_method") or "").lower()
    return QuantConfig(
        source=source,
        method=method,
        bits=q.get_float("bits", "w_bit", maximum=MAX_BITS),
        group_size=_as_int(q, "group_size", "q_group_size"),
        modules_to_not_convert=_strings(q, "modules_to_not_convert") or _strings(q, "exclude_modules"),
        load_in_4bit=bool(qc.get("load_in_4bit") or qc.get("_load_in_4bit")),
        load_in_8bit=bool(qc.get("load_in_8bit") or qc.get("_load_in_8bit")),
        bnb_4bit_quant_type=_text(q, "bnb_4bit_quant_type"),
        bnb_double_quant=bool(qc.get("bnb_4bit_use_double_quant")),
        llm_int8_skip_modules=_strings(q, "llm_int8_skip_modules") or None,
        fmt=_text(q, "fmt"),
        weight_block_size=q.get_int_list("weight_block_size", minimum=1),
        quant_algo=(_text(q, "quant_algo") or "").upper(),
        per_module=_per_module(method, q),
        expert_dtype=expert_dtype,
        **_compressed_fields(q),
    )
