"""The activation dtype of a model: config dtype names, then tensor dtypes, then a default (docs/theory.md
1.2)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from hubmem.formats.json_reader import brief
from hubmem.formats.safetensors import Tensor
from hubmem.parse.reader import Reader

# Config dtype names -> canonical activation dtype. Anything else (float8_*, int8, uint8, "auto") is not an
# activation dtype: for FP8/GPTQ/MXFP4 checkpoints the activations run in bf16/fp16.
_DTYPE_NAMES = {
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "float64": "float64",
    "double": "float64",
}
# safetensors floating dtypes that are activation dtypes (packed containers U8/I32/F8/F4 never are).
_TENSOR_FLOAT_DTYPES = {"BF16": "bfloat16", "F16": "float16", "F32": "float32", "F64": "float64"}
DEFAULT_DTYPE = "bfloat16"


def normalize_dtype(name: object) -> str | None:
    """``torch.bfloat16`` / ``bf16`` / ``half`` ... -> canonical name; None if not an activation dtype."""
    if not isinstance(name, str):
        return None
    key = name.strip().lower().removeprefix("torch.")
    return _DTYPE_NAMES.get(key)


def resolve_dtype(
    root: Reader, r: Reader, tc_key: str | None, config: dict[str, Any], tensors: Sequence[Tensor] | None
) -> tuple[str, str, str | None]:
    """(dtype, source, problem) following vLLM get_torch_dtype's order (docs/theory.md 1.2)."""
    ignored: list[str] = []
    found = _config_dtype(_dtype_holders(root, r, tc_key, config), ignored)
    if found is not None:
        return found[0], found[1], None
    if tensors and (best := _tensor_dtype(tensors)) is not None:
        return best, "tensors", None
    why = "no dtype/torch_dtype in config and no floating-point tensors"
    if ignored:
        why += f" ({', '.join(ignored)} is not an activation dtype)"
    return DEFAULT_DTYPE, "default", f"dtype: {why}; {DEFAULT_DTYPE} assumed for projections"


def _dtype_holders(
    root: Reader, r: Reader, tc_key: str | None, config: dict[str, Any]
) -> list[tuple[Reader, str]]:
    """The config objects that may name the dtype, in the order they are asked, with their labels."""
    holders: list[tuple[Reader, str]] = [(root, "config")]
    if tc_key is not None:
        holders.append((r, tc_key))
    for sub in ("vision_config", "encoder"):
        if isinstance(config.get(sub), dict):
            holders.append((Reader(config[sub]), sub))
    return holders


def _config_dtype(holders: list[tuple[Reader, str]], ignored: list[str]) -> tuple[str, str] | None:
    """The first activation dtype a config names, and where (``config:torch_dtype``); names that are not
    activation dtypes are added to ``ignored``."""
    for reader, label in holders:
        for key in ("dtype", "torch_dtype"):
            raw = reader.raw(key)
            if raw is None:
                continue
            canon = normalize_dtype(raw)
            if canon is not None:
                return canon, f"{label}:{key}"
            ignored.append(f"{label}.{key}={brief(raw)}")
    return None


def _tensor_dtype(tensors: Sequence[Tensor]) -> str | None:
    """The floating dtype holding the most elements (ties: the larger name), or None without one."""
    counts: Counter[str] = Counter()
    for t in tensors:
        name = _TENSOR_FLOAT_DTYPES.get(t.dtype)
        if name is not None:
            counts[name] += t.numel
    if not counts:
        return None
    return max(counts.items(), key=lambda kv: (kv[1], kv[0]))[0]
