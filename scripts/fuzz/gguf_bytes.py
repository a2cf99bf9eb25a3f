"""GGUF header bytes from a metadata dict and tensor infos (little-endian, version 3): the fuzz run's way to
put hostile *values* (a block_count of 10^18, a head count of 0, a per-layer array of the wrong length, NaN
rope bases) into real-looking files, which byte damage alone almost never does."""

from __future__ import annotations

import math
import struct
from typing import Any

from hubmem.formats.gguf.header import GGUFArray, GGUFHeader

UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = 4, 5, 6, 7, 8, 9, 10, 11, 12


def _string(text: str) -> bytes:
    data = text.encode("utf-8", "surrogatepass")
    return struct.pack("<Q", len(data)) + data


def _type_of(value: Any) -> int:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        if 0 <= value < 2**32:
            return UINT32
        if -(2**31) <= value < 0:
            return INT32
        return UINT64 if value >= 0 else INT64
    if isinstance(value, float):
        return FLOAT32 if not math.isfinite(value) or abs(value) < 3e38 else FLOAT64
    if isinstance(value, str):
        return STRING
    return ARRAY


_SCALAR = {UINT32: "<I", INT32: "<i", FLOAT32: "<f", BOOL: "<?", UINT64: "<Q", INT64: "<q", FLOAT64: "<d"}


def _value(kind: int, value: Any) -> bytes:
    if kind == STRING:
        return _string(value)
    if kind == ARRAY:
        items = list(value) if isinstance(value, list) else []
        elem = _type_of(items[0]) if items else UINT32
        items = [v for v in items if _type_of(v) == elem]
        return struct.pack("<IQ", elem, len(items)) + b"".join(_value(elem, v) for v in items)
    if kind in (UINT64, INT64):
        value = max(-(2**63), min(value, 2**64 - 1 if kind == UINT64 else 2**63 - 1))
    return struct.pack(_SCALAR[kind], value)


def encode(header: GGUFHeader, metadata: dict[str, Any]) -> bytes:
    """``header``'s tensor infos with ``metadata`` (GGUFArray summaries become arrays of that many zero
    bytes... of at most 64 elements: the count is what readers check first)."""
    out = [b"GGUF", struct.pack("<IQQ", 3, len(header.tensors), len(metadata))]
    for key, value in metadata.items():
        if isinstance(value, GGUFArray):
            value = [""] * min(value.count, 64)
        kind = _type_of(value)
        out += [_string(key), struct.pack("<I", kind), _value(kind, value)]
    types = {name: i for i, name in _ggml_ids().items()}
    for t in header.tensors:
        out += [_string(t.name), struct.pack("<I", len(t.ne)), struct.pack(f"<{len(t.ne)}Q", *t.ne)]
        out.append(struct.pack("<IQ", types[t.ggml_type], t.offset))
    return b"".join(out)


def _ggml_ids() -> dict[int, str]:
    from hubmem.formats.gguf.tables import tables

    return {i: name for i, (name, _, _) in tables().ggml_types.items()}
