"""The ``gguf`` package's tables (ggml types with block and type sizes, value types, llama file types, key
names) and the struct layouts of one byte order.

``import gguf`` pulls numpy and the writer (~150 ms measured with ``python -X importtime``;
``gguf.constants`` cannot be imported without the package ``__init__``), so the tables are loaded on the
first parse, not when hubmem is imported.
"""

from __future__ import annotations

import functools
import struct

import msgspec

# struct format of each fixed-size value type, by gguf.GGUFValueType name
_SCALAR_FORMATS = {
    "UINT8": "B",
    "INT8": "b",
    "UINT16": "H",
    "INT16": "h",
    "UINT32": "I",
    "INT32": "i",
    "FLOAT32": "f",
    "BOOL": "?",
    "UINT64": "Q",
    "INT64": "q",
    "FLOAT64": "d",
}


class Tables(msgspec.Struct, frozen=True):
    ggml_types: dict[int, tuple[str, int, int]]  # type id -> (name, block size, type size)
    value_types: dict[int, str]  # value type id -> name
    file_types: dict[int, str]  # general.file_type -> LlamaFileType name
    string: int
    array: int
    default_alignment: int
    alignment_key: str
    gguf_version: str


@functools.cache
def tables() -> Tables:
    from gguf import constants as g  # imports the whole gguf package and numpy, ~150 ms: first parse only

    sizes = g.GGML_QUANT_SIZES
    return Tables(
        ggml_types={int(t): (t.name, *sizes[t]) for t in g.GGMLQuantizationType if t in sizes},
        value_types={int(t): t.name for t in g.GGUFValueType},
        file_types={int(t): t.name for t in g.LlamaFileType},
        string=int(g.GGUFValueType.STRING),
        array=int(g.GGUFValueType.ARRAY),
        default_alignment=g.GGUF_DEFAULT_ALIGNMENT,
        alignment_key=g.Keys.General.ALIGNMENT,
        gguf_version=_gguf_version(),
    )


def _gguf_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gguf")
    except PackageNotFoundError:  # pragma: no cover - a vendored copy
        return "?"


class Codec(msgspec.Struct, frozen=True):
    """struct layouts for one byte order."""

    order: str  # "<" or ">"
    u32: struct.Struct
    u64: struct.Struct
    counts: struct.Struct  # tensor_count, metadata_kv_count
    array_head: struct.Struct  # element type, count
    type_offset: struct.Struct  # ggml type, data offset
    scalars: dict[int, struct.Struct]  # value type id -> layout

    def many(self, fmt: str, count: int) -> struct.Struct:
        return struct.Struct(f"{self.order}{count}{fmt}")


@functools.cache
def codec(order: str) -> Codec:
    names = tables().value_types
    scalars = {
        vid: struct.Struct(order + _SCALAR_FORMATS[name])
        for vid, name in names.items()
        if name in _SCALAR_FORMATS
    }
    return Codec(
        order=order,
        u32=struct.Struct(order + "I"),
        u64=struct.Struct(order + "Q"),
        counts=struct.Struct(order + "QQ"),
        array_head=struct.Struct(order + "IQ"),
        type_offset=struct.Struct(order + "IQ"),
        scalars=scalars,
    )


@functools.cache
def ggml_type_sizes() -> dict[str, tuple[int, int]]:
    """ggml type name ("Q8_0", "F16" ...) -> (block size, bytes per block), from the gguf package's tables."""
    return {name: (block, size) for name, block, size in tables().ggml_types.values()}


def row_size(type_name: str, n: int) -> int:
    """Bytes of ``n`` values of a ggml type (ggml.c ``ggml_row_size``: type size x n / block size); ValueError
    when ``n`` is not a whole number of blocks."""
    block, size = ggml_type_sizes()[type_name.upper()]
    if n % block:
        raise ValueError(f"{n} values are not a whole number of {type_name} blocks of {block}")
    return n // block * size
