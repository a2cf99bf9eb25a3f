"""Pausing Python's cyclic garbage collector around work that builds ~100k short-lived or long-lived
acyclic objects (reference counting frees them; collections only cost time): validating a 92k-tensor header
and building its report. Used by ``formats.safetensors`` and ``pipeline``."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """The collector off inside, and on again on exit if it was on (a 92k-tensor report spends a quarter of
    its CPU in collections otherwise: scripts/BENCHMARKS.md)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
