"""The buffer and coroutine plumbing under the GGUF grammar: bytes are fed in, a generator-based reader
consumes them, and suspends (``yield``) while the buffer lacks the bytes the next step needs.

Only the unconsumed tail is kept between feeds (a ``bytes`` feed that starts on an item boundary is used
without a copy), no byte is decoded twice, and nothing is read past ``cap`` (the header limit or the file).
"""

from __future__ import annotations

import struct
from collections.abc import Generator
from typing import Any

from hubmem.errors import CorruptHeaderError
from hubmem.formats.gguf.header import DEFAULT_LIMITS, GGUFHeader, Limits

Step = Generator[None, None, Any]


class HeaderStream:
    """Feeds contiguous bytes from the start of a file to the reader coroutine :meth:`_run` (subclasses)."""

    def __init__(
        self, *, file: str = "", file_size: int | None = None, limits: Limits = DEFAULT_LIMITS
    ) -> None:
        self.file = file
        self.file_size = file_size
        self.limits = limits
        self._buf: bytes | bytearray = b""
        self._pos = 0  # parse position in _buf
        self._base = 0  # file offset of _buf[0]
        self._received = 0
        self._need = 0  # bytes from _pos the suspended step waits for (0: any)
        self._skip_left = 0  # bytes a suspended skip still has to pass
        self._cap = limits.max_header_bytes if file_size is None else min(limits.max_header_bytes, file_size)
        self._where = "the file header"
        self._error: CorruptHeaderError | None = None
        self._header: GGUFHeader | None = None

    def _start(self) -> None:
        """Run the reader up to its first wait (subclasses call this at the end of their __init__)."""
        self._gen: Generator[None, None, GGUFHeader] = self._run()
        self._step()

    def _run(self) -> Generator[None, None, GGUFHeader]:
        raise NotImplementedError
        yield  # pragma: no cover - makes this a generator

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

    def result(self) -> GGUFHeader:
        """The parsed header; only once done (RuntimeError before: that is a caller bug, not a bad file)."""
        if self._error is not None:
            raise self._error
        if self._header is None:
            raise RuntimeError("GGUFParser.result() called before the header was complete")
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
