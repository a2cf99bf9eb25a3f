"""In-memory caches of the service: a size-capped LRU, a short-TTL map, and single flight.

All three are used from one event loop only (no locks needed).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

import msgspec

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class MemoryCacheStats(msgspec.Struct):
    """Lookups and evictions of one in-memory cache."""

    hits: int = 0
    misses: int = 0
    evictions: int = 0


class LRUCache(Generic[K, V]):
    """Least-recently-used cache capped by entry count and by the summed ``size`` of its entries.

    ``size`` is what the caller says an entry weighs (the service uses the length of the cached JSON),
    so the cap bounds memory, not just the number of entries.
    """

    def __init__(self, max_entries: int, max_bytes: int | None = None) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must be >= 0")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._data: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self.stats = MemoryCacheStats()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    @property
    def total_bytes(self) -> int:
        return self._bytes

    def get(self, key: K) -> V | None:
        item = self._data.get(key)
        if item is None:
            self.stats.misses += 1
            return None
        self._data.move_to_end(key)
        self.stats.hits += 1
        return item[0]

    def put(self, key: K, value: V, size: int = 0) -> None:
        if self.max_entries == 0 or (self.max_bytes is not None and size > self.max_bytes):
            return  # too big to ever fit: do not flush everything else for it
        old = self._data.pop(key, None)
        if old is not None:
            self._bytes -= old[1]
        self._data[key] = (value, size)
        self._bytes += size
        while len(self._data) > self.max_entries or (
            self.max_bytes is not None and self._bytes > self.max_bytes
        ):
            _, (_, evicted_size) = self._data.popitem(last=False)
            self._bytes -= evicted_size
            self.stats.evictions += 1

    def clear(self) -> None:
        self._data.clear()
        self._bytes = 0


class TTLCache(Generic[K, V]):
    """A map whose entries expire ``ttl`` seconds after they were written; capped LRU-style by count."""

    def __init__(
        self, ttl: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._data: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self.stats = MemoryCacheStats()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: K) -> V | None:
        item = self._data.get(key)
        if item is None:
            self.stats.misses += 1
            return None
        expires, value = item
        if self._clock() >= expires:
            self.stats.misses += 1  # kept (see get_stale) until overwritten or evicted
            return None
        self._data.move_to_end(key)
        self.stats.hits += 1
        return value

    def get_stale(self, key: K) -> V | None:
        """The last value written for ``key``, expired or not (until evicted); counts nothing."""
        item = self._data.get(key)
        return None if item is None else item[1]

    def put(self, key: K, value: V) -> None:
        if self.max_entries <= 0:
            return
        self._data.pop(key, None)
        self._data[key] = (self._clock() + self.ttl, value)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)
            self.stats.evictions += 1

    def clear(self) -> None:
        self._data.clear()


class SingleFlight(Generic[K, V]):
    """Concurrent calls with the same key share one execution of the work.

    The work runs in its own task, so a caller that goes away (client disconnect, cancellation)
    does not cancel it for the others; the task is forgotten as soon as it finishes, so results
    and errors are never reused after the fact (caching is the LRU's job).
    """

    def __init__(self) -> None:
        self._inflight: dict[K, asyncio.Task[V]] = {}
        self.started = 0  # executions
        self.coalesced = 0  # callers that joined an execution already in flight

    def __len__(self) -> int:
        return len(self._inflight)

    async def run(self, key: K, work: Callable[[], Awaitable[V]]) -> tuple[V, bool]:
        """Return ``(result, shared)``; ``shared`` is True when this caller joined another's execution."""
        task = self._inflight.get(key)
        shared = task is not None
        if task is None:
            self.started += 1

            async def runner() -> V:
                return await work()

            task = asyncio.get_running_loop().create_task(runner())
            self._inflight[key] = task
            task.add_done_callback(functools.partial(self._forget, key))
        else:
            self.coalesced += 1
        return await asyncio.shield(task), shared

    def _forget(self, key: K, task: asyncio.Task[V]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # mark retrieved: waiters may all have gone away

    async def aclose(self) -> None:
        tasks = list(self._inflight.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._inflight.clear()
