"""Human units: binary sizes (GiB = 2**30 bytes) or, with ``--units si``, decimal sizes (GB = 10**9 bytes, as
the Hub and GPU vendors print them), and compact counts. The unit is always written (GiB vs GB)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal

Units = Literal["binary", "si"]
_BINARY = (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10))
_SI = (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3))
_UNITS: ContextVar[Units] = ContextVar("hubmem_units", default="binary")


@contextmanager
def units(kind: Units) -> Iterator[None]:
    """Print sizes in ``kind`` units inside the block (the terminal report's ``--units``)."""
    token = _UNITS.set(kind)
    try:
        yield
    finally:
        _UNITS.reset(token)


def human_bytes(n: int | float) -> str:
    """``16060522496`` -> ``'14.96 GiB'`` (binary units, as memory is sized) or ``'16.06 GB'`` (si)."""
    for unit, size in _SI if _UNITS.get() == "si" else _BINARY:
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


def human_count(n: int | float) -> str:
    """``8030261248`` -> ``'8.03 B'`` (decimal, as parameter counts are published)."""
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)}"


def short_tokens(n: int) -> str:
    """Contexts as users say them: ``8192`` -> ``'8k'``, ``131072`` -> ``'128k'`` (multiples of 1,024),
    ``117500`` -> ``'118k'``, ``1000`` -> ``'1,000'``."""
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024:,}k"
    return f"{round(n / 1000):,}k" if n >= 10_000 else f"{n:,}"


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``1 file``, ``4 files``, ``1,024 tensors`` (``nouns``: an irregular plural)."""
    return f"{n:,} {noun if n == 1 else nouns or noun + 's'}"


def exact(n: int) -> str:
    return f"{n:,}"
