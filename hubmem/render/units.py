"""Human units: binary sizes (GiB = 2**30 bytes) and compact counts."""

from __future__ import annotations

_BINARY = (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10))


def human_bytes(n: int | float) -> str:
    """``16060522496`` -> ``'14.96 GiB'`` (binary units, as memory is sized)."""
    for unit, size in _BINARY:
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


def human_count(n: int | float) -> str:
    """``8030261248`` -> ``'8.03 B'`` (decimal, as parameter counts are published)."""
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)}"


def exact(n: int) -> str:
    return f"{n:,}"
