"""safetensors header parsing and validation.

Format (huggingface/safetensors README): 8-byte little-endian u64 ``N``, then ``N`` bytes of UTF-8
JSON ``{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}``, then the
byte buffer. Exact bytes of a tensor are ``end - begin``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable
from typing import Any

import msgspec

from hubmem.errors import CorruptHeaderError
from hubmem.formats.dtypes import DTYPE_BITS, canonical_dtype
from hubmem.formats.json_reader import brief, load_json

MAX_HEADER_LENGTH = 25_000_000  # huggingface_hub / huggingface.js SAFETENSORS_MAX_HEADER_LENGTH
U64_MAX = 2**64 - 1  # dimensions, offsets and element counts are u64 (safetensors: usize, checked_mul)


class Tensor(msgspec.Struct, gc=False):
    """One tensor of a header (treat as read-only). A msgspec Struct: built in C, twice as fast as a slotted
    dataclass (100k per DeepSeek-R1 report), and not tracked by the cyclic collector (it holds only strings,
    integers and a tuple of integers)."""

    name: str
    dtype: str  # canonical safetensors dtype
    shape: tuple[int, ...]
    begin: int
    end: int
    file: str = ""
    numel: int = -1  # elements (a scalar, shape [], has one); computed from the shape when not given

    def __post_init__(self) -> None:
        if self.numel < 0:
            self.numel = math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.end - self.begin


def read_header_length(first8: bytes, *, file: str = "") -> int:
    """Decode the u64 header length and refuse absurd values before reading any further."""
    if len(first8) < 8:
        raise CorruptHeaderError(f"{file or 'file'}: shorter than 8 bytes, not a safetensors file")
    n = int.from_bytes(first8[:8], "little")  # u64, little-endian
    if n > MAX_HEADER_LENGTH:
        raise CorruptHeaderError(
            f"{file or 'file'}: header length {n:,} bytes exceeds the {MAX_HEADER_LENGTH:,}-byte limit"
        )
    if n < 2:
        raise CorruptHeaderError(f"{file or 'file'}: header length {n} is too small for a JSON object")
    return n


def decode_header(raw: bytes, *, file: str = "") -> dict[str, Any]:
    """Decode the JSON header bytes (exactly ``N`` bytes, trailing spaces allowed), within the bounded
    reader's limits (a header nests 3 levels: entries, their fields, shape and offsets)."""
    try:
        obj = load_json(raw, max_bytes=MAX_HEADER_LENGTH, bom=False, walk=False)  # parse_header checks
    except ValueError as exc:
        raise CorruptHeaderError(f"{file or 'file'}: header is not valid UTF-8 JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise CorruptHeaderError(f"{file or 'file'}: header is not a JSON object")
    return obj


class SafetensorsHeader(msgspec.Struct):
    """A validated header, as the snapshot holds it: the tensors in offset order (contiguous from byte 0)
    and ``__metadata__``. The decoded JSON is not kept (at 500k tensors it is about 3x the size of this)."""

    tensors: list[Tensor]
    metadata: dict[str, str] | None = None

    @property
    def data_end(self) -> int:
        """Bytes of the data buffer the tensors cover."""
        return self.tensors[-1].end if self.tensors else 0

    def names(self) -> list[str]:
        return [t.name for t in self.tensors]

    def to_json(self) -> dict[str, Any]:
        """The header as the file holds it (metadata first, tensors in offset order)."""
        out: dict[str, Any] = {} if self.metadata is None else {"__metadata__": dict(self.metadata)}
        for t in self.tensors:
            out[t.name] = {"dtype": t.dtype, "shape": list(t.shape), "data_offsets": [t.begin, t.end]}
        return out


def parse_header(header: dict[str, Any], *, file: str = "", names: Iterable[str] = ()) -> SafetensorsHeader:
    """Validate a decoded header: see :func:`parse_tensors`. ``names`` (the index's names for this file)
    lets each tensor share the index's name string instead of holding a second copy of it."""
    where = file or "header"
    metadata = header.get("__metadata__")
    _check_metadata(metadata, where)
    same = {n: n for n in names}
    shapes: dict[tuple[int, ...], tuple[tuple[int, ...], int]] = {}  # one tuple and count per shape
    tensors: list[Tensor] = []
    for name, info in header.items():
        if name != "__metadata__":
            t = _well_formed(same.get(name, name), info, file, shapes)
            tensors.append(t if t is not None else _entry_tensor(name, info, where, file))
    return tiled_header(tensors, metadata, where)


def tiled_header(tensors: list[Tensor], metadata: dict[str, str] | None, where: str) -> SafetensorsHeader:
    """The header of entries each checked on its own, in key order: ordered by offset and checked to tile the
    buffer from 0 (``CorruptHeaderError`` otherwise). Writers lay the data out in key order (all 676 bundled
    real headers): tensors that tile the buffer as they come are in offset order already, and are not
    sorted (a stable sort would leave them as they are)."""
    if _untiled(tensors) is not None:
        tensors.sort(key=_BY_OFFSET)
        if (found := _untiled(tensors)) is not None:
            t, cursor = found
            problem = "overlaps the previous tensor" if t.begin < cursor else "leaves a hole before it"
            raise CorruptHeaderError(f"{where}: tensor {brief(t.name)} at offset {t.begin:,} {problem}")
    return SafetensorsHeader(tensors, metadata)


def check_data_size(header: SafetensorsHeader, data_size: int, *, file: str = "") -> None:
    """The tensors cover the file's ``data_size`` bytes (file size - 8 - N) exactly."""
    if header.data_end != data_size:
        raise CorruptHeaderError(
            f"{file or 'header'}: tensors cover {header.data_end:,} bytes but the file holds "
            f"{data_size:,} bytes of data"
        )


def parse_tensors(header: dict[str, Any], *, file: str = "", data_size: int | None = None) -> list[Tensor]:
    """Validate a decoded header and return its tensors, ordered by offset.

    Checks (safetensors ``Metadata::validate``): known dtype, integer shape and offsets,
    ``end - begin == numel * bits / 8`` (bits a multiple of 8), offsets contiguous from 0 with no
    overlap, and, when ``data_size`` (file size - 8 - N) is known, that the buffer is covered exactly.
    """
    parsed = parse_header(header, file=file)
    if data_size is not None:
        check_data_size(parsed, data_size, file=file)
    return parsed.tensors


def _check_metadata(info: Any, where: str) -> None:
    """``__metadata__`` is absent, null or an object of strings (safetensors: ``HashMap<String, String>``)."""
    if info is None:
        return
    if not isinstance(info, dict):
        raise CorruptHeaderError(f"{where}: __metadata__ is not an object")
    for key, value in info.items():
        if not isinstance(value, str):
            raise CorruptHeaderError(f"{where}: __metadata__ {brief(key)} is {brief(value)}, not a string")


_BY_OFFSET = operator.attrgetter("begin", "end")
DTYPES = {name: name for name in DTYPE_BITS}  # one string object per dtype, shared by every tensor


def _well_formed(
    name: str, info: Any, file: str, shapes: dict[tuple[int, ...], tuple[tuple[int, ...], int]]
) -> Tensor | None:
    """The tensor of an entry that passes every check of :func:`_entry_tensor`, or None.

    The fast path of a header with 100k entries: a few type checks and the size arithmetic per entry.
    Anything unusual (alias dtype names, a bool or float where an integer belongs, a value beyond u64, a
    wrong size) returns None, and :func:`_entry_tensor` then accepts it or says precisely what is wrong."""
    if type(info) is not dict:
        return None
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    canonical = DTYPES.get(dtype) if type(dtype) is str else None
    if canonical is None or type(shape) is not list or type(offsets) is not list or len(offsets) != 2:
        return None
    begin, end = offsets
    if type(begin) is not int or type(end) is not int or not 0 <= begin <= end <= U64_MAX:
        return None
    n = 1
    for d in shape:
        if type(d) is not int or not 0 <= d <= U64_MAX:
            return None
        n *= d
    nbits = n * DTYPE_BITS[canonical]
    if n > U64_MAX or nbits & 7 or end - begin != nbits >> 3:
        return None
    dims = tuple(shape)
    same = shapes.get(dims)
    if same is None:
        same = shapes[dims] = (dims, n)
    return Tensor(name, canonical, same[0], begin, end, file, same[1])


def _is_count(value: Any) -> bool:
    """An integer in [0, 2^64) (bool excluded): a valid dimension or byte offset."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= U64_MAX


def _element_count(shape: list[int]) -> int | None:
    """The product of ``shape``, or None when it exceeds a u64 (safetensors refuses the overflow)."""
    count = 1
    for dim in shape:
        count *= dim
        if count > U64_MAX:
            return None
    return count


def _entry_tensor(name: str, info: Any, where: str, file: str) -> Tensor:
    """One header entry checked on its own: dtype, shape, offsets and a byte size that fits them."""
    label = brief(name)
    if not isinstance(info, dict):
        raise CorruptHeaderError(f"{where}: entry {label} is not an object")
    raw_dtype = info.get("dtype")
    dtype = canonical_dtype(raw_dtype) if isinstance(raw_dtype, str) else None
    if dtype is None:
        raise CorruptHeaderError(
            f"{where}: tensor {label} has unknown dtype {brief(raw_dtype)}",
            hint="Known dtypes: " + " ".join(DTYPE_BITS),
        )
    shape = info.get("shape")
    offsets = info.get("data_offsets")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise CorruptHeaderError(f"{where}: tensor {label} has an invalid shape {brief(shape)}")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_count(o) for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise CorruptHeaderError(f"{where}: tensor {label} has invalid data_offsets {brief(offsets)}")
    numel = _element_count(shape)
    if numel is None:
        raise CorruptHeaderError(f"{where}: tensor {label} has more than 2^64 elements ({brief(shape)})")
    t = Tensor(name, dtype, tuple(shape), offsets[0], offsets[1], file)
    nbits = numel * DTYPE_BITS[dtype]
    if nbits % 8:
        raise CorruptHeaderError(f"{where}: tensor {label} is not byte aligned ({nbits:,} bits)")
    if t.nbytes != nbits // 8:
        raise CorruptHeaderError(
            f"{where}: tensor {label} spans {t.nbytes:,} bytes "
            f"but {dtype} x {brief(shape)} needs {nbits // 8:,}"
        )
    return t


def _untiled(tensors: list[Tensor]) -> tuple[Tensor, int] | None:
    """The first tensor (and the offset it should start at) where ``tensors``, in their order, stop tiling
    the buffer from 0 without holes or overlaps; None when they tile it. Each ``begin`` met on the way
    becomes the previous tensor's ``end`` object (equal values: one integer object instead of two)."""
    cursor = 0
    for t in tensors:
        if t.begin != cursor:
            return t, cursor
        t.begin = cursor
        cursor = t.end
    return None
