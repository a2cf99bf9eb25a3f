"""Virtual file contents: a few stored or filled segments, any byte range served without materialising."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

CHUNK = 1 << 20  # largest piece handed to the socket at once
_ZEROS = bytes(CHUNK)


@dataclass(frozen=True)
class Segment:
    length: int
    data: bytes | None = None  # stored bytes (len == length) or None for a run of ``fill``
    fill: int = 0


class VirtualFile:
    """Concatenation of segments; the last one is padded/truncated so the total equals ``size``."""

    def __init__(self, size: int, segments: list[Segment]) -> None:
        self.size = size
        fixed: list[Segment] = []
        pos = 0
        for seg in segments:
            if pos >= size:
                break
            n = min(seg.length, size - pos)
            if seg.data is not None:
                fixed.append(Segment(n, seg.data[:n]))
            else:
                fixed.append(Segment(n, None, seg.fill))
            pos += n
        if pos < size:
            fixed.append(Segment(size - pos))
        self.segments = fixed

    @classmethod
    def from_bytes(cls, data: bytes) -> VirtualFile:
        return cls(len(data), [Segment(len(data), data)])

    def iter_range(self, start: int, stop: int, chunk: int = CHUNK) -> Iterator[bytes]:
        """Yield the bytes of [start, stop) in pieces of at most ``chunk`` bytes."""
        stop = min(stop, self.size)
        pos = 0
        for seg in self.segments:
            seg_start, seg_stop = pos, pos + seg.length
            pos = seg_stop
            lo, hi = max(start, seg_start), min(stop, seg_stop)
            while lo < hi:
                n = min(chunk, hi - lo)
                if seg.data is not None:
                    yield seg.data[lo - seg_start : lo - seg_start + n]
                elif seg.fill == 0 and n <= CHUNK:
                    yield _ZEROS[:n]
                else:
                    yield bytes([seg.fill]) * n
                lo += n
            if pos >= stop:
                return

    def read(self, start: int = 0, stop: int | None = None) -> bytes:
        return b"".join(self.iter_range(start, self.size if stop is None else stop))
