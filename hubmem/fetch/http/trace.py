"""Trace: one chain of sequential HTTP exchanges, counted into a :class:`FetchStats`."""

from __future__ import annotations

from hubmem.snapshot import FetchStats


class Trace:
    """One chain of sequential HTTP exchanges, feeding a :class:`FetchStats`.

    ``depth`` counts exchanges made one after the other (redirect hops and retries included);
    parallel work runs on :meth:`fork` copies and :meth:`join` keeps the longest chain.
    """

    __slots__ = ("depth", "stats")

    def __init__(self, stats: FetchStats | None = None, depth: int = 0) -> None:
        self.stats = stats if stats is not None else FetchStats()
        self.depth = depth

    def fork(self) -> Trace:
        return Trace(self.stats, self.depth)

    def join(self, *children: Trace) -> None:
        self.depth = max([self.depth, *(c.depth for c in children)])

    def finish(self) -> FetchStats:
        self.stats.round_trips = max(self.stats.round_trips, self.depth)
        return self.stats
