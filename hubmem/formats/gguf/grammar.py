"""The GGUF format's reading rules (ggml ``docs/gguf.md``; gguf-py ``gguf_reader.py``), as generator steps
over :class:`~hubmem.formats.gguf.stream.HeaderStream`: preamble, key/value pairs (every value type, nested
arrays), alignment, tensor infos; every count and length checked against :class:`Limits` before it is
trusted. Long arrays (tokenizer vocabularies) are walked by their length prefixes, not decoded. What has
been read so far is kept in :class:`Progress` for the read-size estimates.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import msgspec

from hubmem.formats.gguf.header import (
    DEFAULT_LIMITS,
    INT64_MAX,
    GGUFArray,
    GGUFHeader,
    GGUFTensor,
    Limits,
    align,
)
from hubmem.formats.gguf.stream import HeaderStream, Step
from hubmem.formats.gguf.tables import codec, tables

GGUF_MAGIC = b"GGUF"
MIN_KV_BYTES = 8 + 4 + 1  # empty key, value type, a one-byte value
MIN_TENSOR_BYTES = 8 + 4 + 4 + 8  # empty name, n_dims 0, ggml type, offset
_TENSOR_INFO_GUESS = 96  # bytes per tensor info before one is seen ("blk.12.ffn_down.weight", 2-D: 62)
_STRING_GUESS = 16  # bytes per array string (prefix included) before one is seen


class Progress(msgspec.Struct):
    """What wanted() and min_wanted() know: items left and the mean size of those seen."""

    started: bool = False  # the counts are read
    in_tensors: bool = False
    kv_left: int = 0  # key/value pairs not yet started
    kv_done: int = 0
    kv_bytes: int = 0  # encoded size of the finished pairs
    t_left: int = 0  # tensor infos not yet started
    t_done: int = 0
    t_bytes: int = 0
    item_start: int = 0  # file offset of the pair / tensor info being read
    arr_left: int = 0  # strings still to walk in the long string array being skipped
    arr_done: int = 0
    arr_bytes: int = 0

    def string_mean(self) -> float:
        return self.arr_bytes / self.arr_done if self.arr_done else _STRING_GUESS

    def tensor_mean(self) -> float:
        return self.t_bytes / self.t_done if self.t_done else _TENSOR_INFO_GUESS


_Step = Generator[None, None, Any]


class GGUFGrammar(HeaderStream):
    """The reading rules; :class:`~hubmem.formats.gguf.parser.GGUFParser` adds the public API on top."""

    def __init__(
        self, *, file: str = "", file_size: int | None = None, limits: Limits = DEFAULT_LIMITS
    ) -> None:
        super().__init__(file=file, file_size=file_size, limits=limits)
        self._t = tables()
        self._c = codec("<")
        self._byte_order = "little"
        self._progress = Progress()
        self._notes: list[str] = []
        self._start()

    def _run(self) -> Generator[None, None, GGUFHeader]:
        version, n_tensors, n_kv = yield from self._read_preamble()
        metadata = yield from self._read_metadata(n_kv)
        alignment = self._alignment(metadata)
        tensors = yield from self._read_tensor_infos(n_tensors, alignment)
        return GGUFHeader(
            version=version,
            n_tensors=n_tensors,
            n_kv=n_kv,
            metadata=metadata,
            tensors=tensors,
            alignment=alignment,
            header_end=self._here(),
            byte_order=self._byte_order,
            file=self.file,
            file_size=self.file_size,
            notes=tuple(self._notes),
        )

    def _read_preamble(self) -> Generator[None, None, tuple[int, int, int]]:
        magic = yield from self._take(4)
        if magic != GGUF_MAGIC:
            raise self._corrupt(f"not a GGUF file: magic {bytes(magic)!r}, expected {GGUF_MAGIC!r}", at=0)
        raw = yield from self._take(4)
        version = self._version(bytes(raw))
        self._where = "the tensor and key/value counts"
        n_tensors, n_kv = yield from self._read(self._c.counts)
        self._check_counts(n_tensors, n_kv)
        p = self._progress
        p.started, p.kv_left, p.t_left = True, n_kv, n_tensors
        return version, n_tensors, n_kv

    def _version(self, raw: bytes) -> int:
        version = int.from_bytes(raw, "little")
        if version and not version & 0xFFFF:  # 3 written big-endian reads 0x03000000
            version = int.from_bytes(raw, "big")
            self._c, self._byte_order = codec(">"), "big"
        if version == 1:
            raise self._corrupt("GGUF version 1 (32-bit counts) is not supported; re-convert the model", at=4)
        if version not in (2, 3):
            raise self._corrupt(f"unsupported GGUF version {version} (this reader knows 2 and 3)", at=4)
        return version

    def _check_counts(self, n_tensors: int, n_kv: int) -> None:
        lim = self.limits
        if n_tensors > lim.max_tensors:
            raise self._corrupt(f"tensor count {n_tensors:,} exceeds the limit of {lim.max_tensors:,}", at=8)
        if n_kv > lim.max_kv:
            raise self._corrupt(f"key/value count {n_kv:,} exceeds the limit of {lim.max_kv:,}", at=16)
        least = n_kv * MIN_KV_BYTES + n_tensors * MIN_TENSOR_BYTES
        if self._here() + least > self._cap:
            raise self._past_cap(least)

    def _start_item(self, where: str) -> None:
        self._where = where
        self._progress.item_start = self._here()

    def _read_metadata(self, n_kv: int) -> Generator[None, None, dict[str, Any]]:
        metadata: dict[str, Any] = {}
        p = self._progress
        for i in range(n_kv):
            p.kv_left -= 1
            self._start_item(f"key/value pair {i + 1} of {n_kv}")
            key = yield from self._read_text("key")
            if key in metadata:
                raise self._corrupt(f"duplicate key {_short(key)}")
            self._where = f"the value of key {_short(key)}"
            (vtype,) = yield from self._read(self._c.u32)
            metadata[key] = yield from self._read_value(vtype, 0)
            p.kv_done += 1
            p.kv_bytes += self._here() - p.item_start
            p.arr_left = p.arr_done = p.arr_bytes = 0
        return metadata

    def _read_string_bytes(self, what: str) -> Generator[None, None, bytes | bytearray]:
        (n,) = yield from self._read(self._c.u64)
        if n > self.limits.max_string_bytes:
            raise self._corrupt(
                f"{what} length {n:,} exceeds the {self.limits.max_string_bytes:,}-byte limit"
            )
        return (yield from self._take(n))

    def _read_text(self, what: str) -> Generator[None, None, str]:
        """A key or tensor name: must be valid UTF-8."""
        raw = yield from self._read_string_bytes(what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self._corrupt(f"{what} is not valid UTF-8: {bytes(raw[:40])!r}") from None

    def _read_value(self, vtype: int, depth: int) -> Step:
        if vtype == self._t.string:
            raw = yield from self._read_string_bytes("string")
            return raw.decode("utf-8", "replace")
        if vtype == self._t.array:
            return (yield from self._read_array(depth + 1))
        layout = self._c.scalars.get(vtype)
        if layout is None:
            raise self._corrupt(f"unknown value type {vtype}")
        (value,) = yield from self._read(layout)
        return value

    def _read_array_head(self, depth: int) -> Generator[None, None, tuple[int, int]]:
        if depth > self.limits.max_array_depth:
            raise self._corrupt(f"arrays nested deeper than {self.limits.max_array_depth}")
        etype, count = yield from self._read(self._c.array_head)
        if etype not in self._t.value_types:
            raise self._corrupt(f"unknown array element type {etype}")
        if count > self.limits.max_array_count:
            raise self._corrupt(f"array count {count:,} exceeds the limit of {self.limits.max_array_count:,}")
        layout = self._c.scalars.get(etype)
        least = count * (layout.size if layout else 8 if etype == self._t.string else 12)
        if self._here() + least > self._cap:
            raise self._past_cap(least)
        return etype, count

    def _read_array(self, depth: int) -> Generator[None, None, list[Any] | GGUFArray]:
        etype, count = yield from self._read_array_head(depth)
        if count > self.limits.keep_array_values:
            start = self._here()
            yield from self._skip_array(etype, count, depth)
            return GGUFArray(self._t.value_types[etype], count, self._here() - start)
        layout = self._c.scalars.get(etype)
        if layout is not None:
            values = yield from self._read(self._c.many(layout.format[1:], count))
            return list(values)
        items: list[Any] = []
        for _ in range(count):
            items.append((yield from self._read_value(etype, depth)))
        return items

    def _skip_array(self, etype: int, count: int, depth: int) -> Generator[None, None, None]:
        layout = self._c.scalars.get(etype)
        if layout is not None:
            yield from self._skip(count * layout.size)
        elif etype == self._t.string:
            yield from self._skip_strings(count)
        else:  # arrays of arrays
            for _ in range(count):
                sub_type, sub_count = yield from self._read_array_head(depth + 1)
                yield from self._skip_array(sub_type, sub_count, depth + 1)

    def _skip_strings(self, count: int) -> Generator[None, None, None]:
        """Walk ``count`` length-prefixed strings without decoding them, resuming mid-array on a feed."""
        p = self._progress
        p.arr_left, p.arr_done, p.arr_bytes = count, 0, 0
        while True:
            start = self._pos
            left = self._walk_strings(p.arr_left)
            p.arr_done += p.arr_left - left
            p.arr_bytes += self._pos - start
            p.arr_left = left
            if not left:
                return
            yield from self._wait(self._blocked_string())

    def _walk_strings(self, left: int) -> int:
        """Pass the complete strings in the buffer (at most ``left``); return how many remain."""
        buf, pos = self._buf, self._pos
        end = min(len(buf), self._cap - self._base)
        unpack, max_len = self._c.u64.unpack_from, self.limits.max_string_bytes
        while left and pos + 8 <= end:
            (n,) = unpack(buf, pos)
            if n > max_len or pos + 8 + n > end:
                break
            pos += 8 + n
            left -= 1
        self._pos = pos
        return left

    def _blocked_string(self) -> int:
        """Bytes the next array string needs (its prefix, or prefix + contents once the length is known)."""
        if self._available() < 8:
            return 8
        n: int = self._c.u64.unpack_from(self._buf, self._pos)[0]
        if n > self.limits.max_string_bytes:
            raise self._corrupt(
                f"string length {n:,} exceeds the {self.limits.max_string_bytes:,}-byte limit"
            )
        return 8 + n

    def _alignment(self, metadata: dict[str, Any]) -> int:
        self._where = "general.alignment"
        value = metadata.get(self._t.alignment_key, self._t.default_alignment)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value & (value - 1):
            raise self._corrupt(f"general.alignment {_short(value)} is not a power of two")
        return value

    def _read_tensor_infos(self, n: int, alignment: int) -> Generator[None, None, list[GGUFTensor]]:
        tensors: list[GGUFTensor] = []
        names: set[str] = set()
        end = gaps = long_names = 0  # end: padded end of the previous tensor's data
        p = self._progress
        p.in_tensors = True
        for i in range(n):
            p.t_left -= 1
            self._start_item(f"tensor info {i + 1} of {n}")
            tensor = yield from self._read_tensor_info()
            if tensor.name in names:
                raise self._corrupt(f"duplicate tensor name {_short(tensor.name)}")
            names.add(tensor.name)
            gaps += tensor.offset > end
            long_names += len(tensor.name.encode()) >= 64
            end = self._place(tensor, end, alignment)
            tensors.append(tensor)
            p.t_done += 1
            p.t_bytes += self._here() - p.item_start
        if gaps:
            self._notes.append(f"{gaps} tensor(s) start after a gap (llama.cpp wants them packed)")
        if long_names:
            self._notes.append(f"{long_names} tensor name(s) of 64 bytes or more (llama.cpp refuses them)")
        return tensors

    def _read_tensor_info(self) -> Generator[None, None, GGUFTensor]:
        name = yield from self._read_text("tensor name")
        self._where = f"tensor {_short(name)}"
        (n_dims,) = yield from self._read(self._c.u32)
        if n_dims > self.limits.max_dims:
            raise self._corrupt(f"{n_dims} dimensions (GGML_MAX_DIMS is {self.limits.max_dims})")
        ne = yield from self._read(self._c.many("Q", n_dims))
        type_id, offset = yield from self._read(self._c.type_offset)
        return self._make_tensor(name, ne, type_id, offset)

    def _make_tensor(self, name: str, ne: tuple[int, ...], type_id: int, offset: int) -> GGUFTensor:
        known = self._t.ggml_types.get(type_id)
        if known is None:
            raise self._corrupt(
                f"unknown ggml type {type_id} (not in the tables of gguf {self._t.gguf_version}; "
                "a newer gguf package may know it)"
            )
        type_name, block, type_size = known
        if any(d > INT64_MAX for d in ne):
            raise self._corrupt(f"a dimension of {list(ne)} is negative as int64")
        elements = math.prod(ne)
        if elements > INT64_MAX:
            raise self._corrupt(f"shape {list(ne)} has more than 2^63 elements")
        if (ne[0] if ne else 1) % block:
            raise self._corrupt(
                f"row length {ne[0] if ne else 1} is not a multiple of {type_name}'s block {block}"
            )
        return GGUFTensor(name, type_name, tuple(ne), offset, elements // block * type_size)

    def _place(self, tensor: GGUFTensor, end: int, alignment: int) -> int:
        """Check the tensor's offset against the previous tensor's end; return this one's padded end."""
        if tensor.offset % alignment:
            raise self._corrupt(
                f"data offset {tensor.offset:,} is not a multiple of the alignment {alignment}"
            )
        if tensor.offset < end:
            raise self._corrupt(
                f"data offset {tensor.offset:,} overlaps the previous tensor (which ends at {end:,})"
            )
        stop = tensor.offset + tensor.nbytes
        if stop > INT64_MAX:
            raise self._corrupt(
                f"data would end past 2^63 (offset {tensor.offset:,} + {tensor.nbytes:,} bytes)"
            )
        return align(stop, alignment)


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
