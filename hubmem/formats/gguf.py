"""GGUF header reader: metadata and tensor infos from a prefix of the file, fed incrementally.

Format (ggml ``docs/gguf.md``; gguf-py ``gguf_reader.py``): ``b"GGUF"``, u32 version (2 or 3), u64
tensor_count, u64 metadata_kv_count, the key/value pairs (string key, u32 value type, value), the tensor
infos (string name, u32 n_dims, n_dims x u64 ``ne``, u32 ggml type, u64 offset into the data section),
padding to ``general.alignment`` (default 32), then the tensor data. A string is a u64 byte length and
UTF-8 bytes; an array is a u32 element type, a u64 count and the elements (arrays of arrays allowed).
Everything is little-endian, except in a big-endian GGUF (the version word then reads byte-swapped, the
test llama.cpp and gguf-py use), which is read as big-endian.

The tables (ggml types with block and type sizes, value types, llama file types, key names) come from
the ``gguf`` package, llama.cpp's own; the bytes are parsed here, because ``gguf.GGUFReader`` wants the
whole file and hubmem has a prefix from HTTP range reads. ``import gguf`` pulls numpy and the writer
(~150 ms measured with ``python -X importtime``; ``gguf.constants`` cannot be imported without the
package ``__init__``), so the tables are loaded on the first parse, not when hubmem is imported.

The parser is a generator-based coroutine: each reading step ``yield``s while the buffer lacks the bytes
it needs, and :meth:`GGUFParser.feed` resumes it. Only the unconsumed tail is kept between feeds (a
``bytes`` feed that starts on an item boundary is used without a copy), no byte is decoded twice, and
arrays longer than :attr:`Limits.keep_array_values` (tokenizer vocabularies) are walked, not decoded:
their strings are skipped by their length prefixes.

Speed (measured with time.process_time, CPython 3.11, one core of the dev machine): the real gemma-3-270m
Q4_K_M header (6.5 MB: 262,144 token strings, scores and token types, 33 keys, 236 tensor infos) parses
in 0.055 s of CPU; a synthetic 7.2 MB one with 340 tensor infos in 0.04-0.06 s, whole, in 4 KiB feeds or
as 64 KiB + one wanted() read alike. gguf.GGUFReader takes ~20 s on a 300k-string file (a numpy array per
string) and cannot open a header-only prefix at all.
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from ..errors import CorruptHeaderError

MiB = 1 << 20
INT64_MAX = (1 << 63) - 1
GGUF_MAGIC = b"GGUF"
FIRST_READ = 64 * 1024  # what wanted() asks for before the counts are known
_MIN_KV_BYTES = 8 + 4 + 1  # empty key, value type, a one-byte value
_MIN_TENSOR_BYTES = 8 + 4 + 4 + 8  # empty name, n_dims 0, ggml type, offset
_TENSOR_INFO_GUESS = 96  # bytes per tensor info before one is seen ("blk.12.ffn_down.weight", 2-D: 62)
_STRING_GUESS = 16  # bytes per array string (prefix included) before one is seen

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


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps that keep a hostile header from costing unbounded memory or CPU (refusals: CorruptHeaderError).

    ``max_header_bytes`` (64 MiB) bounds everything else: no read goes past it, and a count whose smallest
    possible encoding cannot fit is refused before anything more is read. The largest real headers are those
    of 256k-vocabulary models: gemma-3's is about 6 MB (262,144 token strings, scores and token types), and
    Llama-3 / Qwen tokenizers with BPE merges run 3-5 MB, so 64 MiB is 10x headroom while still finite (the
    safetensors cap is 25 MB, but those headers never hold a vocabulary).
    ``max_string_bytes`` (16 MiB): the longest real strings are chat templates, tens of KB.
    ``max_tensors`` / ``max_kv`` (1,000,000): real files have a few thousand tensors at most (MoE experts
    are stacked into 3-D tensors) and well under 100 keys.
    ``max_array_count`` (100M) and ``max_array_depth`` (8; llama.cpp refuses nested arrays outright, the
    spec and gguf-py allow them). ``max_dims`` is GGML_MAX_DIMS (4).
    ``keep_array_values`` (4096): longer arrays become a :class:`GGUFArray` summary; per-layer arrays
    (``{arch}.attention.head_count_kv``, ``sliding_window_pattern``...) have a few hundred entries at most.
    """

    max_header_bytes: int = 64 * MiB
    max_string_bytes: int = 16 * MiB
    max_tensors: int = 1_000_000
    max_kv: int = 1_000_000
    max_array_count: int = 100_000_000
    max_array_depth: int = 8
    max_dims: int = 4
    keep_array_values: int = 4096


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class GGUFArray:
    """A metadata array too long to keep (a tokenizer vocabulary): element type, length, encoded size."""

    elem_type: str  # gguf.GGUFValueType name, e.g. "STRING"
    count: int
    nbytes: int  # bytes of the elements in the file (the 12-byte type + count prefix not included)


@dataclass(frozen=True, slots=True)
class GGUFTensor:
    name: str
    ggml_type: str  # gguf.GGMLQuantizationType name, e.g. "Q4_K"
    ne: tuple[int, ...]  # ggml order: ne[0] is the row length (the fastest-varying dimension)
    offset: int  # from the start of the data section
    nbytes: int  # exact: elements / block size * type size

    @property
    def shape(self) -> tuple[int, ...]:
        """numpy / PyTorch order (ne reversed)."""
        return self.ne[::-1]

    @property
    def elements(self) -> int:
        return math.prod(self.ne)


def _align(n: int, alignment: int) -> int:
    return -(-n // alignment) * alignment


@dataclass(frozen=True, slots=True)
class GGUFHeader:
    version: int
    n_tensors: int
    n_kv: int
    metadata: dict[str, Any]  # scalars as int/float/bool/str, short arrays as lists, long ones as GGUFArray
    tensors: list[GGUFTensor]
    alignment: int
    header_end: int  # file offset just after the last tensor info
    byte_order: str = "little"
    file: str = ""
    file_size: int | None = None
    # irregularities llama.cpp refuses but the bytes can still be counted (tensors not packed back to back,
    # tensor names of 64 bytes or more)
    notes: tuple[str, ...] = ()

    @property
    def data_offset(self) -> int:
        """Start of the data section: header_end rounded up to the alignment."""
        return _align(self.header_end, self.alignment)

    @property
    def architecture(self) -> str | None:
        value = self.metadata.get("general.architecture")
        return value if isinstance(value, str) else None

    @property
    def file_type(self) -> int | None:
        value = self.metadata.get("general.file_type")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def file_type_name(self) -> str | None:
        """The gguf.LlamaFileType name, e.g. "MOSTLY_Q4_K_M" (None when absent or unknown)."""
        ftype = self.file_type
        return None if ftype is None else _tables().file_types.get(ftype)

    @property
    def file_type_label(self) -> str | None:
        """The usual short name, e.g. "Q4_K_M", "F32", "MXFP4_MOE"."""
        name = self.file_type_name
        return None if name is None else name.removeprefix("MOSTLY_").removeprefix("ALL_")

    @property
    def tensor_bytes(self) -> int:
        """Exact bytes of all tensors (padding between them not counted)."""
        return sum(t.nbytes for t in self.tensors)

    @property
    def parameters(self) -> int:
        return sum(t.elements for t in self.tensors)

    @property
    def data_end(self) -> int:
        """End of the last tensor's data, relative to the data section, padded to the alignment."""
        return max((_align(t.offset + t.nbytes, self.alignment) for t in self.tensors), default=0)

    @property
    def expected_file_size(self) -> int:
        return self.data_offset + self.data_end

    def check_file_size(self, file_size: int) -> str | None:
        """None when ``file_size`` is what the tensor infos imply for an unsplit file, else the mismatch.

        The last tensor's padding may be left out (some writers do); a file with no tensors may end at
        header_end. Each shard of a split model (``split.count``) is a GGUF of its own and checks alone.
        """
        expected = self.expected_file_size
        unpadded = self.data_offset + max((t.offset + t.nbytes for t in self.tensors), default=0)
        if file_size in (expected, unpadded) or (not self.tensors and file_size == self.header_end):
            return None
        what = "missing" if file_size < expected else "unaccounted for"
        return (
            f"{self.file or 'GGUF file'}: the tensor infos end the data at byte {expected:,} but the file is "
            f"{file_size:,} bytes ({abs(file_size - expected):,} bytes {what})"
        )

    @property
    def size_problem(self) -> str | None:
        """:meth:`check_file_size` against the size given to the parser (None when none was given)."""
        return None if self.file_size is None else self.check_file_size(self.file_size)


@dataclass(frozen=True, slots=True)
class _Tables:
    ggml_types: dict[int, tuple[str, int, int]]  # type id -> (name, block size, type size)
    value_types: dict[int, str]  # value type id -> name
    file_types: dict[int, str]  # general.file_type -> LlamaFileType name
    string: int
    array: int
    default_alignment: int
    alignment_key: str
    gguf_version: str


@functools.cache
def _tables() -> _Tables:
    from gguf import constants as g  # imports the whole gguf package and numpy, ~150 ms: first parse only

    sizes = g.GGML_QUANT_SIZES
    return _Tables(
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


@dataclass(frozen=True, slots=True)
class _Codec:
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
def _codec(order: str) -> _Codec:
    names = _tables().value_types
    scalars = {
        vid: struct.Struct(order + _SCALAR_FORMATS[name])
        for vid, name in names.items()
        if name in _SCALAR_FORMATS
    }
    return _Codec(
        order=order,
        u32=struct.Struct(order + "I"),
        u64=struct.Struct(order + "Q"),
        counts=struct.Struct(order + "QQ"),
        array_head=struct.Struct(order + "IQ"),
        type_offset=struct.Struct(order + "IQ"),
        scalars=scalars,
    )


@dataclass(slots=True)
class _Progress:
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


class GGUFParser:
    """Incremental GGUF header parser: feed() contiguous bytes from the start of the file until done.

    ``file`` names the file in error messages; ``file_size``, when known, lets a header that runs past the
    end of the file be refused at once and clamps wanted(). A hostile header raises CorruptHeaderError
    from feed() (or from the constructor when ``file_size`` is too small for any header); a short one
    makes feed() wait, and only finish() calls it truncated.
    """

    def __init__(
        self, *, file: str = "", file_size: int | None = None, limits: Limits = DEFAULT_LIMITS
    ) -> None:
        self.file = file
        self.file_size = file_size
        self.limits = limits
        self._t = _tables()
        self._c = _codec("<")
        self._byte_order = "little"
        self._buf: bytes | bytearray = b""
        self._pos = 0  # parse position in _buf
        self._base = 0  # file offset of _buf[0]
        self._received = 0
        self._need = 0  # bytes from _pos the suspended step waits for (0: any)
        self._skip_left = 0  # bytes a suspended skip still has to pass
        self._cap = limits.max_header_bytes if file_size is None else min(limits.max_header_bytes, file_size)
        self._where = "the file header"
        self._progress = _Progress()
        self._notes: list[str] = []
        self._error: CorruptHeaderError | None = None
        self._header: GGUFHeader | None = None
        self._gen: Generator[None, None, GGUFHeader] = self._run()
        self._step()

    # -- public API ----------------------------------------------------------------------------------

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append the next bytes of the file (contiguous with the previous ones) and parse what they allow.

        Bytes past the end of the tensor infos are ignored. A ``bytes`` object may be kept (not copied)
        until it is consumed; bytearray / memoryview data is copied.
        """
        if self._error is not None:
            raise self._error
        if self._header is not None or not len(data):
            return
        self._received += len(data)
        self._append(data)
        self._step()

    @property
    def done(self) -> bool:
        """True once the whole tensor-info section is parsed."""
        return self._header is not None

    @property
    def received(self) -> int:
        """Bytes fed so far."""
        return self._received

    @property
    def buffered(self) -> int:
        """Bytes held between feeds: the unconsumed tail (at most one incomplete item)."""
        return self._available()

    def min_wanted(self) -> int:
        """A strict lower bound on the bytes still needed past those received (0 when done)."""
        if self._error is not None:
            raise self._error
        if self._header is not None:
            return 0
        p = self._progress
        low = max(self._need - self._available(), 0) + self._skip_left
        low += max(p.arr_left - 1, 0) * 8  # the string being waited for is in _need
        return low + p.kv_left * _MIN_KV_BYTES + p.t_left * _MIN_TENSOR_BYTES

    def wanted(self) -> int:
        """When not done: how many more bytes to read next to finish in one go, generously estimated.

        The estimate projects the mean size of the long-array strings, key/value pairs and tensor infos
        seen so far onto those still to come (the pair being read counts at its projected size, so after
        a first read that ends inside the vocabulary, the pairs still to come are expected to hold other
        vocabulary-sized arrays: scores, token types, merges), plus 1/4: a vocabulary's later tokens run
        longer than its first ones (gemma-3: 13.7 bytes a string in the first 64 KiB, 16.8 overall), and
        a round trip costs more than a few hundred extra KB. On the real gemma-3-270m header (6.5 MB)
        a 64 KiB first read and then one wanted() read finish.
        Never below min_wanted() unless clamped to the bytes left in the file; at least 1 while not done.
        """
        if self._error is not None:
            raise self._error
        if self._header is not None:
            return 0
        low = self.min_wanted()
        estimate = self._estimate()
        want = max(low, estimate + estimate // 4)
        if self.file_size is not None:
            want = min(want, self.file_size - self._received)
        return max(want, 1)

    def result(self) -> GGUFHeader:
        """The parsed header; only once done (RuntimeError before: that is a caller bug, not a bad file)."""
        if self._error is not None:
            raise self._error
        if self._header is None:
            raise RuntimeError("GGUFParser.result() called before the header was complete")
        return self._header

    def finish(self) -> GGUFHeader:
        """No more bytes will come: the header, or CorruptHeaderError if what was fed is truncated."""
        if self._error is not None:
            raise self._error
        if self._header is None:
            self._error = self._corrupt(
                f"truncated: the header needs at least {self.min_wanted():,} more bytes "
                f"after the {self._received:,} given",
                at=self._received,
            )
            raise self._error
        return self._header

    # -- buffer and coroutine plumbing ---------------------------------------------------------------

    def _available(self) -> int:
        return len(self._buf) - self._pos

    def _here(self) -> int:
        return self._base + self._pos

    def _append(self, data: bytes | bytearray | memoryview) -> None:
        if self._pos == len(self._buf) and isinstance(data, bytes):
            self._base += self._pos
            self._buf, self._pos = data, 0  # nothing left over: parse the caller's bytes in place
            return
        if isinstance(self._buf, bytearray):
            del self._buf[: self._pos]  # bytearray drops a prefix without moving the rest
        else:
            self._buf = bytearray(memoryview(self._buf)[self._pos :])
        self._base += self._pos
        self._pos = 0
        self._buf += data

    def _step(self) -> None:
        if self._available() < self._need:
            return
        try:
            next(self._gen)
        except StopIteration as stop:
            self._header = stop.value
            self._buf, self._pos = b"", 0
        except CorruptHeaderError as exc:
            self._error = exc
            self._buf, self._pos = b"", 0
            raise

    def _corrupt(self, problem: str, *, at: int | None = None) -> CorruptHeaderError:
        where = self._here() if at is None else at
        return CorruptHeaderError(
            f"{self.file or 'GGUF file'}: {problem} (in {self._where}, at byte {where:,})",
            hint="The GGUF header is not valid; the file may be truncated, damaged, or not GGUF at all.",
        )

    def _past_cap(self, n: int) -> CorruptHeaderError:
        end = self._here() + n
        if self.file_size is not None and end > self.file_size:
            return self._corrupt(f"the header runs past the end of the {self.file_size:,}-byte file")
        return self._corrupt(
            f"the header would exceed the {self.limits.max_header_bytes:,}-byte limit (needs byte {end:,})"
        )

    def _wait(self, n: int) -> Generator[None, None, None]:
        """Suspend until ``n`` bytes are buffered past the parse position."""
        if self._here() + n > self._cap:
            raise self._past_cap(n)
        while self._available() < n:
            self._need = n
            yield
        self._need = 0

    def _read(self, layout: struct.Struct) -> Generator[None, None, tuple[Any, ...]]:
        yield from self._wait(layout.size)
        values = layout.unpack_from(self._buf, self._pos)
        self._pos += layout.size
        return values

    def _take(self, n: int) -> Generator[None, None, bytes | bytearray]:
        yield from self._wait(n)
        start = self._pos
        self._pos += n
        return self._buf[start : self._pos]

    def _skip(self, n: int) -> Generator[None, None, None]:
        """Pass ``n`` bytes without holding them: consume what is there, wait for the rest."""
        if self._here() + n > self._cap:
            raise self._past_cap(n)
        self._skip_left = n
        while True:
            take = min(self._skip_left, self._available())
            self._pos += take
            self._skip_left -= take
            if not self._skip_left:
                return
            yield

    # -- the grammar -----------------------------------------------------------------------------------

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
        (version,) = struct.unpack("<I", raw)
        if version and not version & 0xFFFF:  # 3 written big-endian reads 0x03000000
            (version,) = struct.unpack(">I", raw)
            self._c, self._byte_order = _codec(">"), "big"
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
        least = n_kv * _MIN_KV_BYTES + n_tensors * _MIN_TENSOR_BYTES
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

    def _read_value(self, vtype: int, depth: int) -> _Step:
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
        (n,) = self._c.u64.unpack_from(self._buf, self._pos)
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
        return _align(stop, alignment)

    def _estimate(self) -> int:
        """Projected bytes still to come past those received."""
        p = self._progress
        if not p.started:
            return max(FIRST_READ - self._received, self._need - self._available())
        current = max(self._need, self._skip_left) + p.arr_left * p.string_mean()  # past the parse position
        t_mean = p.tensor_mean()
        if p.in_tensors:
            current = max(current, t_mean - (self._here() - p.item_start))
            rest = p.t_left * t_mean
        else:
            projected = self._here() - p.item_start + current
            kv_mean = (p.kv_bytes + projected) / (p.kv_done + 1)
            rest = p.kv_left * kv_mean + p.t_left * t_mean
        return int(current + rest) - self._available()


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_gguf(
    data: bytes | bytearray | memoryview,
    *,
    file: str = "",
    file_size: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> GGUFHeader:
    """Parse a GGUF header from ``data`` (the file or a prefix that holds the whole header).

    Raises CorruptHeaderError when the header is invalid or ``data`` ends before it does.
    """
    parser = GGUFParser(file=file, file_size=file_size, limits=limits)
    parser.feed(data)
    return parser.finish()


__all__ = [
    "DEFAULT_LIMITS",
    "GGUFArray",
    "GGUFHeader",
    "GGUFParser",
    "GGUFTensor",
    "Limits",
    "parse_gguf",
]
