"""A safetensors header's ``N`` bytes to a validated :class:`~hubmem.formats.safetensors.SafetensorsHeader`:
one typed decode (msgspec) for a well-formed header, and the checked path of :mod:`hubmem.formats.safetensors`
(``json.loads``, then every entry on its own) for anything else, which it accepts or refuses precisely.

The typed decode checks types, signs and array lengths in C, about 4x faster than the checked path on
DeepSeek-R1's 163 headers (issue #13); a property test holds the two together
(tests/test_properties_headers.py)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Annotated

import msgspec

from hubmem._gc import cyclic_gc_paused
from hubmem.formats.dtypes import DTYPE_BITS
from hubmem.formats.safetensors import (
    DTYPES,
    MAX_HEADER_LENGTH,
    U64_MAX,
    SafetensorsHeader,
    Tensor,
    decode_header,
    parse_header,
    tiled_header,
)

_Count = Annotated[int, msgspec.Meta(ge=0)]  # the u64 bound is checked below (msgspec bounds stop at i64)


class _Entry(msgspec.Struct, gc=False):
    """A header entry as msgspec decodes it: the three fields safetensors reads, typed. Other fields are
    skipped, as serde skips them in safetensors' own reader. ``__metadata__`` decodes as one too (its
    keys skipped): its strings are read by :data:`_METADATA`."""

    dtype: str = ""
    shape: tuple[_Count, ...] | None = None
    data_offsets: tuple[_Count, _Count] | None = None


class _PlainEntry(_Entry, forbid_unknown_fields=True):
    """The usual header in one decode: entries of exactly the three fields, and ``__metadata__`` holding at
    most ``format`` (``{"format": "pt"}``: what safetensors' writers put there). Anything else is refused,
    and :data:`_ENTRIES` with :data:`_METADATA` read it in two decodes."""

    format: str | msgspec.UnsetType = msgspec.UNSET


class _Metadata(msgspec.Struct):
    value: dict[str, str] | None = msgspec.field(default=None, name="__metadata__")


_PLAIN = msgspec.json.Decoder(dict[str, _PlainEntry])
_ENTRIES = msgspec.json.Decoder(dict[str, _Entry])
_METADATA = msgspec.json.Decoder(_Metadata)


def _decoded(raw: bytes) -> tuple[Mapping[str, _Entry], dict[str, str] | None]:
    """The entries and ``__metadata__``: in one decode when the header is plain (:class:`_PlainEntry`),
    else in two. Raises msgspec's errors (and RecursionError) for the checked path to say what is wrong."""
    try:
        plain = _PLAIN.decode(raw)
    except msgspec.ValidationError:
        pass
    else:
        meta = plain.pop("__metadata__", None)
        if meta is None:
            return plain, None
        if meta.dtype == "" and meta.shape is None and meta.data_offsets is None:  # no other key
            return plain, {} if meta.format is msgspec.UNSET else {"format": meta.format}
    entries = _ENTRIES.decode(raw)
    return entries, _METADATA.decode(raw).value if entries.pop("__metadata__", None) is not None else None


def _typed_header(raw: bytes, file: str, names: Iterable[str]) -> SafetensorsHeader | None:
    """The header of a well-formed file in one typed decode (msgspec: the types, signs and array lengths
    checked in C, about 4x faster than ``json.loads`` + :func:`parse_header` on DeepSeek-R1's headers), or
    None for anything else: :func:`parse_header` then accepts it or says precisely what is wrong. What this
    accepts, :func:`parse_header` accepts too, with the same tensors (a property test holds them together),
    except a value no reader uses that Python's parser refuses (an integer of over 4,300 digits in a field
    safetensors does not know)."""
    if len(raw) > MAX_HEADER_LENGTH or not (raw.isascii() or _utf8(raw)):  # msgspec skips unread strings
        return None
    try:
        entries, metadata = _decoded(raw)
    except (msgspec.MsgspecError, RecursionError):  # RecursionError: deep nesting, even in a skipped field
        return None
    same = {n: n for n in names}
    shapes: dict[tuple[int, ...], tuple[tuple[int, ...], int]] = {}
    tensors: list[Tensor] = []
    for name, entry in entries.items():
        dtype, dims, offsets = DTYPES.get(entry.dtype), entry.shape, entry.data_offsets
        if dtype is None or dims is None or offsets is None:
            return None
        begin, end = offsets
        shared = shapes.get(dims)
        if shared is None:
            n = math.prod(dims)
            if n > U64_MAX or (n == 0 and dims and max(dims) > U64_MAX):  # n > 0: every dim is at most n
                return None
            shared = shapes[dims] = (dims, n)
        nbits = shared[1] * DTYPE_BITS[dtype]
        if end > U64_MAX or end - begin != nbits >> 3 or nbits & 7 or begin > end:
            return None
        tensors.append(Tensor(same.get(name, name), dtype, shared[0], begin, end, file, shared[1]))
    return tiled_header(tensors, metadata, file or "header")


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def load_header(raw: bytes, *, file: str = "", names: Iterable[str] = ()) -> SafetensorsHeader:
    """Decode and validate the ``N`` header bytes of one file. The file size is checked later, against
    :attr:`SafetensorsHeader.data_end`, by :func:`~hubmem.formats.safetensors.check_data_size`; ``names``:
    see :func:`~hubmem.formats.safetensors.parse_header`."""
    with cyclic_gc_paused():  # 100k entries, tensors and tuples, all acyclic: collections only cost time
        typed = _typed_header(raw, file, names)
        if typed is not None:
            return typed
        return parse_header(decode_header(raw, file=file), file=file, names=names)
