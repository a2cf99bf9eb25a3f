"""The header cache's compact form of a safetensors header: its tensors as columns in one binary blob, so a
warm read rebuilds the header without decoding JSON again (DeepSeek-R1's 92k entries: ~2x faster than
``load_json`` of the same header).

Layout (little-endian)::

    b"HMC1"  u32 n  u32 meta_at (position of __metadata__ among the keys; 0xFFFFFFFF: none)
    u32 J  J bytes of JSON: {"meta": __metadata__'s value, "dtypes": [the distinct dtype names]}
    u32 K  K bytes: the n tensor names, UTF-8, each followed by NUL
    n x u8 dtype index   n x u8 rank   u32 m  m x u64 dims   2n x u64 data_offsets

Only headers whose every entry is exactly ``{"dtype": str, "shape": [u64...], "data_offsets": [u64, u64]}``
(and whose names hold no NUL) are stored this way; any other header keeps its JSON form. Reading checks
every length and index; anything inconsistent is a ``ValueError`` (the cache then counts a miss). The
rebuilt header equals the original one (key order included) and is validated again by the report like any
header."""

from __future__ import annotations

import json
import math
import struct
import sys
from array import array
from itertools import accumulate
from typing import Any

import msgspec

from hubmem.errors import CorruptHeaderError
from hubmem.formats.dtypes import DTYPE_BITS
from hubmem.formats.json_reader import load_json
from hubmem.formats.safetensors import SafetensorsHeader, Tensor, parse_header, tiled_header

MAGIC = b"HMC1"
_NONE = 0xFFFFFFFF
_U64_MAX = (1 << 64) - 1
_KEYS = frozenset({"dtype", "shape", "data_offsets"})
_U32 = struct.Struct("<I")


def _u64(values: list[int]) -> bytes:
    a = array("Q", values)
    if sys.byteorder != "little":  # pragma: no cover - big-endian hosts
        a.byteswap()
    return a.tobytes()


def _entry_ok(name: str, info: Any) -> bool:
    if "\0" in name or type(info) is not dict or info.keys() != _KEYS or type(info["dtype"]) is not str:
        return False
    shape, offsets = info["shape"], info["data_offsets"]
    if type(shape) is not list or len(shape) > 255 or type(offsets) is not list or len(offsets) != 2:
        return False
    return all(type(v) is int and 0 <= v <= _U64_MAX for v in (*shape, *offsets))


def encode_columns(header: dict[str, Any]) -> bytes | None:
    """The blob of ``header``, or None when it does not fit the columns (then it is kept as JSON)."""
    names = [k for k in header if k != "__metadata__"]
    if not all(_entry_ok(n, header[n]) for n in names):
        return None
    dtypes = list(dict.fromkeys(header[n]["dtype"] for n in names))
    if len(dtypes) > 255:
        return None
    index = {d: i for i, d in enumerate(dtypes)}
    keys = list(header)
    meta_at = keys.index("__metadata__") if "__metadata__" in header else _NONE
    head = json.dumps(
        {"meta": header.get("__metadata__"), "dtypes": dtypes}, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    blob = "".join(n + "\0" for n in names).encode("utf-8", "surrogatepass")
    dims = [d for n in names for d in header[n]["shape"]]
    offsets = [o for n in names for o in header[n]["data_offsets"]]
    return b"".join(
        [
            MAGIC,
            _U32.pack(len(names)),
            _U32.pack(meta_at),
            _U32.pack(len(head)),
            head,
            _U32.pack(len(blob)),
            blob,
            bytes(index[header[n]["dtype"]] for n in names),
            bytes(len(header[n]["shape"]) for n in names),
            _U32.pack(len(dims)),
            _u64(dims),
            _u64(offsets),
        ]
    )


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = memoryview(data), 0

    def take(self, n: int) -> memoryview:
        if n < 0 or self.at + n > len(self.data):
            raise ValueError("the columns end early")
        out = self.data[self.at : self.at + n]
        self.at += n
        return out

    def u32(self) -> int:
        value: int = _U32.unpack(self.take(4))[0]
        return value

    def u64s(self, n: int) -> list[int]:
        a = array("Q")
        a.frombytes(self.take(8 * n))
        if sys.byteorder != "little":  # pragma: no cover - big-endian hosts
            a.byteswap()
        return a.tolist()


class _Columns(msgspec.Struct):
    names: list[str]
    dtypes: list[str]  # the distinct dtype names
    kinds: bytes  # per tensor: index into dtypes
    ranks: bytes
    dims: list[int]
    offsets: list[int]
    meta: Any
    meta_at: int


def decode_columns(data: bytes) -> dict[str, Any]:
    """The header a blob holds; ``ValueError`` when the blob is not consistent."""
    return _header_of(_read_columns(data))


def _read_columns(data: bytes) -> _Columns:
    r = _Reader(data)
    if bytes(r.take(4)) != MAGIC:
        raise ValueError("not a columns blob")
    n, meta_at = r.u32(), r.u32()
    head = load_json(bytes(r.take(r.u32())), max_bytes=len(data), bom=False)
    if not isinstance(head, dict) or not isinstance(head.get("dtypes"), list):
        raise ValueError("the columns' head is not an object with dtypes")
    dtypes = head["dtypes"]
    if not all(type(d) is str for d in dtypes):
        raise ValueError("a dtype that is not a string")
    names = bytes(r.take(r.u32())).decode("utf-8", "surrogatepass").split("\0")
    if len(names) != n + 1 or names.pop() != "":
        raise ValueError("the names do not match the count")
    kinds, ranks = bytes(r.take(n)), bytes(r.take(n))
    dims = r.u64s(r.u32())
    offsets = r.u64s(2 * n)
    if r.at != len(data) or sum(ranks) != len(dims) or (kinds and max(kinds) >= len(dtypes)):
        raise ValueError("the columns do not add up")
    return _Columns(names, dtypes, kinds, ranks, dims, offsets, head.get("meta"), meta_at)


def _header_of(c: _Columns) -> dict[str, Any]:
    """The header dict the columns stand for (key order, ``__metadata__`` where it was)."""
    return _rebuild(c.names, [c.dtypes[k] for k in c.kinds], c.ranks, c.dims, c.offsets, c.meta, c.meta_at)


def _checked_tensors(c: _Columns, file: str) -> list[Tensor] | None:
    """The tensors of the columns, in key order, when each is well formed as :func:`parse_header` checks it
    (known dtype, byte size that fits its shape: the columns hold u64 integers only), with unique names and
    metadata of strings; None when anything is unusual (then the rebuilt header goes through
    :func:`parse_header`, which accepts it or says what is wrong)."""
    meta = c.meta
    if c.meta_at == _NONE and meta is not None:
        return None
    if meta is not None and (type(meta) is not dict or not all(type(v) is str for v in meta.values())):
        return None
    if "__metadata__" in c.names or len(set(c.names)) != len(c.names):
        return None
    bits = [DTYPE_BITS.get(d, 0) for d in c.dtypes]
    shapes: dict[tuple[int, ...], tuple[tuple[int, ...], int]] = {}  # one tuple and count per shape
    dims, offsets, at = c.dims, c.offsets, 0
    tensors: list[Tensor] = []
    for i, (name, kind, rank) in enumerate(zip(c.names, c.kinds, c.ranks, strict=True)):
        shape = tuple(dims[at : at + rank])
        at += rank
        same = shapes.get(shape)
        if same is None:
            same = shapes[shape] = (shape, math.prod(shape))
        n, begin, end, nbits = same[1], offsets[2 * i], offsets[2 * i + 1], same[1] * bits[kind]
        if not bits[kind] or n > _U64_MAX or nbits & 7 or end - begin != nbits >> 3:  # 0 bits: unknown dtype
            return None
        tensors.append(Tensor(name, c.dtypes[kind], same[0], begin, end, file, n))
    return tensors


def _rebuild(
    names: list[str],
    dtypes: list[str],
    ranks: bytes,
    dims: list[int],
    offsets: list[int],
    meta: Any,
    meta_at: int,
) -> dict[str, Any]:
    """The header dict, built with C-level loops (map/zip) where possible: ~1 us per tensor."""
    if meta_at != _NONE and not 0 <= meta_at <= len(names):
        raise ValueError("__metadata__ out of place")
    ends = list(accumulate(ranks))
    shapes = list(map(dims.__getitem__, map(slice, [0, *ends[:-1]], ends)))
    pairs = iter(offsets)
    spans = list(map(list, zip(pairs, pairs, strict=False)))
    entries = [
        {"dtype": d, "shape": s, "data_offsets": o} for d, s, o in zip(dtypes, shapes, spans, strict=True)
    ]
    items: list[tuple[str, Any]] = list(zip(names, entries, strict=True))
    if meta_at != _NONE:
        items.insert(meta_at, ("__metadata__", meta))
    header = dict(items)
    if len(header) != len(items) or (meta_at == _NONE and "__metadata__" in header):
        raise ValueError("repeated tensor names")
    return header


def stored_columns(header: SafetensorsHeader, value: dict[str, Any]) -> bytes | None:
    """The blob that stores a validated header; when it does not fit the columns (a NUL in a name), its
    JSON form goes into ``value`` instead and the blob is None."""
    raw = header.to_json()
    blob = encode_columns(raw)
    if blob is None:
        value["header"] = raw
    return blob


def stored_header(value: dict[str, Any], path: str) -> SafetensorsHeader | None:
    """The safetensors header of a cache entry (its columns blob, else its JSON form), validated as a file's
    header is; None if it is not one (a miss)."""
    try:
        blob = value.get("blob")
        if not isinstance(blob, bytes):
            raw = value.get("header")
            return parse_header(raw, file=path) if isinstance(raw, dict) else None
        c = _read_columns(blob)
        tensors = _checked_tensors(c, path)
        if tensors is None:
            return parse_header(_header_of(c), file=path)
        return tiled_header(tensors, c.meta, path)
    except (ValueError, CorruptHeaderError):
        return None
