"""The GGUF header parser's public API: feed bytes from range reads, ask how many more to read, get the
header.

Read sizes (:meth:`GGUFParser.wanted`): the mean size of the long-array strings, key/value pairs and tensor
infos seen so far projected onto those still to come, with a margin; :meth:`GGUFParser.min_wanted` is a
strict lower bound. Hostile input is refused with :class:`~hubmem.errors.CorruptHeaderError`.
"""

from __future__ import annotations

from hubmem.formats.gguf.grammar import MIN_KV_BYTES, MIN_TENSOR_BYTES, GGUFGrammar
from hubmem.formats.gguf.header import DEFAULT_LIMITS, GGUFHeader, Limits

FIRST_READ = 64 * 1024  # what wanted() asks for before the counts are known


class GGUFParser(GGUFGrammar):
    """Incremental GGUF header parser: feed() contiguous bytes from the start of the file until done.

    ``file`` names the file in error messages; ``file_size``, when known, lets a header that runs past the
    end of the file be refused at once and clamps wanted(). A hostile header raises CorruptHeaderError
    from feed() (or from the constructor when ``file_size`` is too small for any header); a short one
    makes feed() wait, and only finish() calls it truncated.
    """

    def min_wanted(self) -> int:
        """A strict lower bound on the bytes still needed past those received (0 when done)."""
        if self._error is not None:
            raise self._error
        if self._header is not None:
            return 0
        p = self._progress
        low = max(self._need - self._available(), 0) + self._skip_left
        low += max(p.arr_left - 1, 0) * 8  # the string being waited for is in _need
        return low + p.kv_left * MIN_KV_BYTES + p.t_left * MIN_TENSOR_BYTES

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
