"""The one bounded JSON reader behind every JSON document hubmem reads: safetensors headers, config.json and
its companions, the index, the Hub's API answers and error bodies, header-cache entries, scan rows and the
service's request bodies. Also the one way a small local file is opened: regular files only, never more
than a cap.

Limits, checked before anything else sees the value (each caller maps ``JSONLimitError``, a ``ValueError``
like ``json.JSONDecodeError``, to its own typed error):

- size: at most ``max_bytes`` (the caller's cap) before decoding;
- depth: at most ``max_depth`` nested arrays / objects (no real file nests deeper than about 8; Python's
  own parser would raise ``RecursionError`` near 1,000, and deeper values break every later serializer);
- numbers: integers of at most ``MAX_INT_DIGITS`` digits (a 64-bit size has 20; Python refuses to turn
  integers over 4,300 digits into text) and finite floats only; ``NaN`` / ``Infinity`` are not JSON
  (RFC 8259) and are refused like any other syntax error;
- strings: no lone UTF-16 surrogate (``"\\ud800"``), which no UTF-8 output can hold (serde_json, which
  reads safetensors headers, refuses them too).
"""

from __future__ import annotations

import json
import math
import os
import re
import reprlib
import stat
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

MAX_DEPTH = 64
MAX_INT_DIGITS = 40
MAX_JSON_BYTES = 64 << 20  # a JSON file or API answer larger than this is refused
_INT_LIMIT = 10**MAX_INT_DIGITS
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class _Brief(reprlib.Repr):
    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxdict, self.maxlist, self.maxtuple = 3, 4, 8, 8
        self.maxstring, self.maxlong, self.maxother = 120, 44, 60

    def repr_int(self, x: int, level: int) -> str:
        if not -_INT_LIMIT < x < _INT_LIMIT:  # never turned into 4,300+ digits of text
            return f"<integer of {x.bit_length():,} bits>"
        return super().repr_int(x, level)


_BRIEF = _Brief()


def brief(value: Any) -> str:
    """A short ``repr`` of a value read from a repo, for messages: long strings, lists, deep nesting and
    long integers are abbreviated (never the whole of a hostile value)."""
    return _BRIEF.repr(value)


class JSONLimitError(ValueError):
    """A JSON document over one of the reader's limits (or not JSON at all)."""


def _no_constant(name: str) -> Any:
    raise JSONLimitError(f"{name} is not a JSON value")


def load_json(
    data: bytes | bytearray | str,
    *,
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_DEPTH,
    bom: bool = True,
    walk: bool = True,
) -> Any:
    """Decode one JSON document within the limits; ``bom`` allows a leading UTF-8 byte-order mark.

    msgspec decodes first; what it refuses goes to Python's decoder (:func:`_checked_decode`), which says
    what is wrong or reads the few documents msgspec leaves to it. ``walk=False`` skips the depth and number
    walk over the decoded value (:func:`check_json_value`, about 2 s for a 500k-tensor header) for a caller
    that checks every value it keeps and drops the rest: the safetensors header's checked path
    (:func:`hubmem.formats.safetensors.parse_header`). Both decoders still refuse nesting near 1,000 levels
    and integers over 4,300 digits; lone surrogates are refused either way.

    Raises ``UnicodeDecodeError`` or ``JSONLimitError`` (both ``ValueError``): syntax errors included."""
    if len(data) > max_bytes:
        raise JSONLimitError(f"{len(data):,} bytes, over the {max_bytes:,}-byte limit")
    try:  # about 2x faster than json.loads on a 92k-entry index; refuses what this reader refuses and more
        obj = msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError):  # said below, or read below (a BOM, a number past 64 bits)
        obj = _checked_decode(data, bom, max_depth)
    if walk:
        check_json_value(obj, max_depth=max_depth)
    return obj


def _checked_decode(data: bytes | bytearray | str, bom: bool, max_depth: int) -> Any:
    """Python's decoder, which says what is wrong, or reads what msgspec leaves to it: a leading BOM (when
    allowed) and numbers past 64 bits or past a double (the walk then bounds them)."""
    text = data if isinstance(data, str) else bytes(data).decode("utf-8-sig" if bom else "utf-8")
    try:
        obj = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise JSONLimitError(f"nested deeper than {max_depth} levels") from None
    except JSONLimitError:
        raise
    except ValueError as exc:  # JSONDecodeError, or an integer over Python's 4,300 digits
        raise JSONLimitError(str(exc) if isinstance(exc, json.JSONDecodeError) else _too_long()) from None
    # a pair decodes to one character; a lone half cannot be encoded (msgspec refuses both halves alone).
    # Most documents hold no escape at all: the one-character test (memchr) is several times faster than the
    # pattern's scan of 10 MB of headers
    if "\\" in text and _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise JSONLimitError("a string holds a lone UTF-16 surrogate") from None
    return obj


def _too_long() -> str:
    return f"an integer of more than {MAX_INT_DIGITS} digits"


_ATOMS = frozenset({str, bool, type(None)})  # values that hold no number and nest nothing


def check_json_value(obj: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """``obj`` (decoded JSON) nests at most ``max_depth`` levels and holds only bounded, finite numbers."""
    level: list[Any] = [[obj]]  # a wrapper, so that a scalar document is checked like any value
    depth = -1
    while level:
        depth += 1
        if depth > max_depth:
            raise JSONLimitError(f"nested deeper than {max_depth} levels")
        deeper: list[Any] = []
        for node in level:
            values = node.values() if type(node) is dict else node
            if _ATOMS.issuperset(map(type, values)):  # strings, bools, nulls: nothing to look at (in C)
                continue
            for value in values:
                kind = type(value)
                if kind is dict or kind is list:
                    deeper.append(value)
                elif kind is int and not -_INT_LIMIT < value < _INT_LIMIT:
                    raise JSONLimitError(_too_long())
                elif kind is float and not math.isfinite(value):
                    raise JSONLimitError(f"the number {value} is out of range")
        level = deeper


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """``path`` opened for reading if it is a regular file (a link to one counts); a FIFO, a device such
    as ``/dev/zero``, a socket or a folder raises ``OSError`` at once, never blocks or streams forever."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(f"not a regular file ({_kind(mode)})")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a special file"


def read_regular(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (``OSError`` otherwise)."""
    with open_regular(path) as fh:
        if os.fstat(fh.fileno()).st_size > max_bytes:
            raise OSError(f"larger than {max_bytes:,} bytes")
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise OSError(f"larger than {max_bytes:,} bytes")
    return data


def load_json_file(path: str | Path, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """A local JSON file, through :func:`read_regular` and :func:`load_json` (``OSError``, ``ValueError``)."""
    return load_json(read_regular(path, max_bytes), max_bytes=max_bytes, max_depth=max_depth)
