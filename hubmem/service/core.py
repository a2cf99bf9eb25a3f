"""The service's core: caches, single flight, access scoping and upstream limits around the backend.

Two immutable layers, both keyed by commit (never by a movable revision):

- ``snapshots[(endpoint, repo, commit, subfolder, hub_info, access)]``: what one upstream fetch read
  (config and safetensors headers; with ``hub_info`` also the Hub's summary and file sizes, which the
  cross-check needs). Every option set of a repo@commit is built from it without going upstream again.
- ``results[(kind, endpoint, repo, commit, options, access)]``: the JSON of a report (or check).

``access`` is "public" for repos the Hub says (or an anonymous read proves) are public, and the caller's
scope otherwise (a keyed hash of the token), so a gated or private result is only ever served to callers
with the same token. Lookup for one request:

1. ``resolutions[(repo, revision, subfolder, scope)]`` (TTL ``resolve_ttl``): the commit the revision
   pointed at for these credentials, and whether the repo is public.
2. When that is fresh: a cached result -> done ("hit"); a cached snapshot -> build ("snapshot").
3. When it has expired but something for the old commit is cached, one cheap authorized resolve
   request (when the backend has one) revalidates the commit and the caller's token ("revalidated").
4. Otherwise one upstream fetch with the caller's credentials, shared by every concurrent request for
   the same repo, revision, subfolder and scope, whatever their options ("miss" / "coalesced").

Builds are single-flight too (one per result key) and run in worker threads (backend's choice).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

import msgspec
from pydantic import BaseModel

from hubmem.errors import UpstreamTimeoutError, WorkTooLargeError
from hubmem.fetch.ids import is_sha
from hubmem.schema.options import Options
from hubmem.service.auth import PUBLIC, Caller
from hubmem.service.backend import Backend, Fetched, Resolution
from hubmem.service.cache import LRUCache, SingleFlight, TTLCache
from hubmem.service.metrics import Registry
from hubmem.service.params import options_key
from hubmem.service.settings import Settings

log = logging.getLogger("hubmem.service")

Kind = Literal["report", "check"]
CacheStatus = Literal["hit", "revalidated", "snapshot", "miss", "coalesced"]
T = TypeVar("T")

ResolutionKey = tuple[str, str, str | None, str]  # repo, revision, subfolder, scope
SnapshotKey = tuple[
    str, str, str, str | None, bool, str
]  # endpoint, repo, commit, subfolder, hub_info, access
ResultKey = tuple[str, str, str, str, str, str]  # kind, endpoint, repo, commit, options, access
FetchKey = tuple[str, str, str | None, bool, str]  # repo, revision, subfolder, hub_info, scope


class Entry(msgspec.Struct, frozen=True):
    """A cached result: the model and its JSON, as first produced (for ``revision``)."""

    payload: BaseModel
    revision: str
    body: bytes
    commit: str

    def body_for(self, revision: str) -> bytes:
        """The JSON as if fetched for ``revision`` (same commit, so only the echoed revision differs)."""
        if revision == self.revision or "revision" not in type(self.payload).model_fields:
            return self.body
        return self.payload.model_copy(update={"revision": revision}).model_dump_json().encode()


class Outcome(msgspec.Struct, frozen=True):
    body: bytes
    cache: CacheStatus
    commit: str


class Core:
    def __init__(self, settings: Settings, backend: Backend, registry: Registry | None = None) -> None:
        self.settings = settings
        self.backend = backend
        self.endpoint = backend.endpoint
        self.results: LRUCache[ResultKey, Entry] = LRUCache(settings.cache_entries, settings.cache_bytes)
        self.snapshots: LRUCache[SnapshotKey, Fetched] = LRUCache(
            settings.snapshot_entries, settings.snapshot_bytes
        )
        self.resolutions: TTLCache[ResolutionKey, Resolution] = TTLCache(settings.resolve_ttl)
        # (repo, revision, subfolder) -> the commit of the last public fetch (any caller): a hint only
        self.public_hints: TTLCache[tuple[str, str, str | None], str] = TTLCache(0.0)
        self.fetches: SingleFlight[FetchKey, Fetched] = SingleFlight()
        self.builds: SingleFlight[ResultKey, Entry] = SingleFlight()
        self.resolves: SingleFlight[ResolutionKey, Resolution | None] = SingleFlight()
        self._upstream = asyncio.Semaphore(settings.max_upstream)
        self._build_slots = asyncio.Semaphore(settings.max_builds)
        self.upstream_running = 0
        reg = self.registry = registry or Registry()
        self.m_cache = reg.counter("hubmem_cache_requests_total", "Result lookups by outcome.")
        self.m_fetch = reg.counter("hubmem_upstream_fetches_total", "Upstream snapshot fetches by outcome.")
        self.m_resolves = reg.counter("hubmem_upstream_resolves_total", "Cheap revision revalidations.")
        self.m_fetch_seconds = reg.histogram("hubmem_upstream_fetch_seconds", "Duration of upstream fetches.")
        self.m_build_seconds = reg.histogram(
            "hubmem_build_seconds", "Duration of report builds (parse+estimate)."
        )
        results, snapshots = self.results, self.snapshots
        reg.gauge("hubmem_cache_entries", "Results in the LRU.", lambda: len(results))
        reg.gauge(
            "hubmem_cache_bytes", "Summed JSON size of the cached results.", lambda: results.total_bytes
        )
        reg.gauge("hubmem_cache_max_entries", "Result LRU entry cap.", lambda: results.max_entries)
        reg.gauge("hubmem_cache_evictions", "Results evicted from the LRU.", lambda: results.stats.evictions)
        reg.gauge("hubmem_snapshot_entries", "Snapshots in the LRU.", lambda: len(snapshots))
        reg.gauge(
            "hubmem_snapshot_bytes", "Estimated size of the cached snapshots.", lambda: snapshots.total_bytes
        )
        reg.gauge("hubmem_resolution_entries", "Cached revision resolutions.", lambda: len(self.resolutions))
        reg.gauge("hubmem_upstream_in_flight", "Upstream fetches running now.", lambda: self.upstream_running)
        reg.gauge("hubmem_singleflight_coalesced", "Requests that joined a fetch in flight.", self._coalesced)

    def _coalesced(self) -> float:
        return self.fetches.coalesced

    async def aclose(self) -> None:
        for flight in (self.fetches, self.builds, self.resolves):
            await flight.aclose()
        await self.backend.aclose()

    # -- public ----------------------------------------------------------------------------------------
    async def get(self, kind: Kind, repo_id: str, options: Options, caller: Caller) -> Outcome:
        okey = options_key(options)
        revision, subfolder = options.revision, options.subfolder
        rkey: ResolutionKey = (repo_id, revision, subfolder, caller.scope)
        hub_info = kind == "check"  # the cross-check also needs the Hub's own summary and file sizes

        res = self.resolutions.get(rkey)
        status: CacheStatus = "hit"
        if res is None and self._worth_revalidating(kind, repo_id, options, okey, caller):
            res = await self._revalidate(rkey, caller)
            status = "revalidated"
        if res is not None:
            access = self._access(res.public, caller)
            entry = self.results.get((kind, self.endpoint, repo_id, res.commit, okey, access))
            if entry is not None:
                return self._done(kind, entry, revision, status)
            fetched = self.snapshots.get((self.endpoint, repo_id, res.commit, subfolder, hub_info, access))
            if fetched is not None:
                entry = await self._build(kind, repo_id, fetched, options, access)
                return self._done(kind, entry, revision, "snapshot")

        fkey: FetchKey = (repo_id, revision, subfolder, hub_info, caller.scope)
        fetched, shared = await self.fetches.run(
            fkey, lambda: self._fetch(repo_id, options, hub_info, caller)
        )
        access = self._access(fetched.public, caller)
        entry = await self._build(kind, repo_id, fetched, options, access)
        return self._done(kind, entry, revision, "coalesced" if shared else "miss")

    def cache_stats(self) -> dict[str, int]:
        return {
            "entries": len(self.results),
            "bytes": self.results.total_bytes,
            "max_entries": self.results.max_entries,
            "evictions": self.results.stats.evictions,
            "snapshots": len(self.snapshots),
            "snapshot_bytes": self.snapshots.total_bytes,
            "snapshot_evictions": self.snapshots.stats.evictions,
            "resolutions": len(self.resolutions),
        }

    # -- internals -------------------------------------------------------------------------------------
    def _done(self, kind: str, entry: Entry, revision: str, status: CacheStatus) -> Outcome:
        self.m_cache.inc(kind=kind, outcome=status)
        return Outcome(entry.body_for(revision), status, entry.commit)

    @staticmethod
    def _access(public: bool | None, caller: Caller) -> str:
        return PUBLIC if public else caller.scope

    def _worth_revalidating(
        self, kind: str, repo_id: str, options: Options, okey: str, caller: Caller
    ) -> bool:
        """Could one cheap resolve avoid an upstream fetch? Yes if something for the commit this revision
        last pointed at is cached, for this caller's scope or as public."""
        sub = options.subfolder
        candidates: set[tuple[str, str]] = set()
        stale = self.resolutions.get_stale((repo_id, options.revision, sub, caller.scope))
        if stale is not None:
            candidates.add((stale.commit, self._access(stale.public, caller)))
        hint = self.public_hints.get_stale((repo_id, options.revision, sub))
        if hint is not None:
            candidates.add((hint, PUBLIC))
        if is_sha(options.revision):  # another revision may have led to this very commit
            candidates.update({(options.revision, PUBLIC), (options.revision, caller.scope)})
        return any(
            (kind, self.endpoint, repo_id, commit, okey, access) in self.results
            or (self.endpoint, repo_id, commit, sub, kind == "check", access) in self.snapshots
            for commit, access in candidates
        )

    async def _revalidate(self, rkey: ResolutionKey, caller: Caller) -> Resolution | None:
        repo_id, revision, subfolder, _ = rkey

        async def work() -> Resolution | None:
            res = await self._upstream_call(lambda: self.backend.resolve(repo_id, revision, caller.token))
            self.m_resolves.inc(outcome="ok" if res is not None else "unsupported")
            return res

        res, _ = await self.resolves.run(rkey, work)
        if res is None:
            return None
        if res.public is None:  # unknown: keep results private to this scope
            res = Resolution(res.commit, public=False)
        self.resolutions.put(rkey, res)
        if res.public:
            self.public_hints.put((repo_id, revision, subfolder), res.commit)
        return res

    async def _upstream_call(self, call: Callable[[], Awaitable[T]]) -> T:
        """One upstream operation: bounded by ``max_upstream`` and ``upstream_timeout`` (-> 504)."""
        try:
            async with asyncio.timeout(self.settings.upstream_timeout):
                async with self._upstream:
                    self.upstream_running += 1
                    try:
                        return await call()
                    finally:
                        self.upstream_running -= 1
        except TimeoutError:
            raise UpstreamTimeoutError(
                f"The Hub did not answer within {self.settings.upstream_timeout:g} s."
            ) from None

    async def _fetch(self, repo_id: str, options: Options, hub_info: bool, caller: Caller) -> Fetched:
        loop = asyncio.get_running_loop()
        started = loop.time()
        outcome = "error"
        try:
            fetched = await self._upstream_call(
                lambda: self.backend.fetch(
                    repo_id, options.revision, options.subfolder, caller.token, hub_info=hub_info
                )
            )
            outcome = "ok"
        except UpstreamTimeoutError:
            outcome = "timeout"
            raise
        finally:
            self.m_fetch.inc(outcome=outcome)
            self.m_fetch_seconds.observe(loop.time() - started)
        self._check_budget(repo_id, fetched)
        # success without any token means anyone may read it; otherwise trust only the Hub's explicit word
        public = fetched.public is True or caller.token is None
        fetched = msgspec.structs.replace(fetched, public=public)
        commit = fetched.commit
        if commit is not None and is_sha(commit):
            access = self._access(public, caller)
            self.snapshots.put(
                (self.endpoint, repo_id, commit, options.subfolder, hub_info, access), fetched, fetched.weight
            )
            rkey = (repo_id, options.revision, options.subfolder, caller.scope)
            self.resolutions.put(rkey, Resolution(commit, public))
            if public:
                self.public_hints.put((repo_id, options.revision, options.subfolder), commit)
        return fetched

    def _check_budget(self, repo_id: str, fetched: Fetched) -> None:
        """Refuse, before any build slot is taken, a snapshot whose report would exceed one request's
        budget: more tensors than ``max_report_tensors`` or more estimated memory than the snapshot cache."""
        limits = self.settings
        if fetched.tensors > limits.max_report_tensors or fetched.weight > limits.snapshot_bytes:
            raise WorkTooLargeError(
                f"{repo_id}: {fetched.tensors:,} tensors ({fetched.weight:,} bytes in memory) exceed "
                f"this server's budget of {limits.max_report_tensors:,} tensors and "
                f"{limits.snapshot_bytes:,} bytes per report",
                repo_id=repo_id,
            )

    async def _build(
        self, kind: Kind, repo_id: str, fetched: Fetched, options: Options, access: str
    ) -> Entry:
        commit = fetched.commit if fetched.commit is not None and is_sha(fetched.commit) else None
        key: ResultKey = (kind, self.endpoint, repo_id, commit or "", options_key(options), access)

        async def work() -> Entry:
            loop = asyncio.get_running_loop()
            started = loop.time()
            async with self._build_slots:
                payload = await self.backend.build(kind, fetched, options)
            self.m_build_seconds.observe(loop.time() - started, kind=kind)
            body = payload.model_dump_json().encode()
            revision = getattr(payload, "revision", options.revision)
            entry = Entry(
                payload, revision if isinstance(revision, str) else options.revision, body, commit or ""
            )
            if commit is not None:  # nothing immutable to key on otherwise: serve it, never cache it
                self.results.put(key, entry, size=len(body))
            return entry

        if commit is None:
            return await work()
        entry, _ = await self.builds.run(key, work)
        return entry
