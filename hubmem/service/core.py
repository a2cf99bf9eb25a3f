"""The service's core: caches, single flight, access scoping and upstream limits around the backend.

Lookup for one request (``kind`` is "report" or "check"):

1. ``resolutions[(repo, revision, subfolder, caller scope)]`` (TTL ``resolve_ttl``): the commit the
   revision pointed at for these credentials, and whether the repo is public.
2. When that is fresh: ``results[(kind, endpoint, repo, commit, options, access)]`` (LRU), where
   ``access`` is "public" for public repos and the caller's scope otherwise. Hit -> done.
3. When it has expired but a result for the old commit is cached, and the backend can resolve
   cheaply, one authorized resolve request revalidates the commit and the caller's access.
4. Otherwise one full analysis with the caller's credentials, shared by every concurrent identical
   request (same kind, repo, revision, options and scope): single flight.

So a result for a gated or private repo is only ever served to callers with the same token
(scope = keyed hash of the token), and a token is checked upstream at least once per ``resolve_ttl``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from ..schema.options import Options
from .auth import PUBLIC, Caller
from .backend import Analysis, Backend, Resolution
from .cache import LRUCache, SingleFlight, TTLCache
from .errors import UpstreamTimeoutError
from .metrics import Registry
from .params import options_key
from .settings import Settings

log = logging.getLogger("hubmem.service")

Kind = Literal["report", "check"]
CacheStatus = Literal["hit", "revalidated", "miss", "coalesced"]
_SHA = re.compile(r"^[0-9a-f]{40}$")

ResolutionKey = tuple[str, str, str | None, str]  # repo, revision, subfolder, scope
ResultKey = tuple[str, str, str, str, str, str]  # kind, endpoint, repo, commit, options, access
FlightKey = tuple[str, str, str, str, str]  # kind, repo, revision, options, scope


@dataclass(frozen=True)
class Entry:
    """A cached result: the model and its JSON, as first produced (for ``revision``)."""

    payload: BaseModel
    revision: str
    body: bytes
    commit: str
    public: bool

    def body_for(self, revision: str) -> bytes:
        """The JSON as if fetched for ``revision`` (same commit, so only the echoed revision differs)."""
        if revision == self.revision or "revision" not in type(self.payload).model_fields:
            return self.body
        return self.payload.model_copy(update={"revision": revision}).model_dump_json().encode()


@dataclass(frozen=True)
class Outcome:
    body: bytes
    cache: CacheStatus
    commit: str


class Core:
    def __init__(self, settings: Settings, backend: Backend, registry: Registry | None = None) -> None:
        self.settings = settings
        self.backend = backend
        self.endpoint = backend.endpoint
        self.results: LRUCache[ResultKey, Entry] = LRUCache(settings.cache_entries, settings.cache_bytes)
        self.resolutions: TTLCache[ResolutionKey, Resolution] = TTLCache(settings.resolve_ttl)
        # (repo, revision, subfolder) -> the commit of the last public result (any caller): a hint only
        self.public_hints: TTLCache[tuple[str, str, str | None], str] = TTLCache(0.0)
        self.flight: SingleFlight[FlightKey, tuple[Entry, CacheStatus]] = SingleFlight()
        self.resolve_flight: SingleFlight[ResolutionKey, Resolution | None] = SingleFlight()
        self._upstream = asyncio.Semaphore(settings.max_upstream)
        self.upstream_running = 0
        reg = self.registry = registry or Registry()
        self.m_cache = reg.counter("hubmem_cache_requests_total", "Result lookups by outcome.")
        self.m_upstream = reg.counter("hubmem_upstream_analyses_total", "Upstream analyses by outcome.")
        self.m_resolves = reg.counter("hubmem_upstream_resolves_total", "Cheap revision revalidations.")
        self.m_upstream_seconds = reg.histogram(
            "hubmem_upstream_analysis_seconds", "Duration of upstream analyses (fetch + parse + estimate)."
        )
        reg.gauge("hubmem_cache_entries", "Results in the LRU.", lambda: len(self.results))
        reg.gauge(
            "hubmem_cache_bytes",
            "Summed JSON size of the results in the LRU.",
            lambda: self.results.total_bytes,
        )
        reg.gauge("hubmem_cache_max_entries", "LRU entry cap.", lambda: self.results.max_entries)
        reg.gauge(
            "hubmem_cache_evictions", "Results evicted from the LRU.", lambda: self.results.stats.evictions
        )
        reg.gauge("hubmem_resolution_entries", "Cached revision resolutions.", lambda: len(self.resolutions))
        reg.gauge(
            "hubmem_upstream_in_flight", "Upstream analyses running now.", lambda: self.upstream_running
        )
        reg.gauge("hubmem_singleflight_keys", "Distinct analyses in flight.", lambda: len(self.flight))
        reg.gauge(
            "hubmem_singleflight_coalesced",
            "Requests that joined an analysis in flight.",
            lambda: self.flight.coalesced,
        )

    async def aclose(self) -> None:
        await self.flight.aclose()
        await self.resolve_flight.aclose()
        await self.backend.aclose()

    # -- public ----------------------------------------------------------------------------------------
    async def get(self, kind: Kind, repo_id: str, options: Options, caller: Caller) -> Outcome:
        okey = options_key(options)
        revision = options.revision
        rkey: ResolutionKey = (repo_id, revision, options.subfolder, caller.scope)

        res = self.resolutions.get(rkey)
        if res is not None:
            entry = self.results.get(self._result_key(kind, repo_id, res, okey, caller))
            if entry is not None:
                self.m_cache.inc(kind=kind, outcome="hit")
                return Outcome(entry.body_for(revision), "hit", entry.commit)
        elif self._worth_revalidating(kind, repo_id, options, okey, caller):
            fresh = await self._revalidate(rkey, caller)
            if fresh is not None:
                entry = self.results.get(self._result_key(kind, repo_id, fresh, okey, caller))
                if entry is not None:
                    self.m_cache.inc(kind=kind, outcome="revalidated")
                    return Outcome(entry.body_for(revision), "revalidated", entry.commit)

        fkey: FlightKey = (kind, repo_id, revision, okey, caller.scope)
        (entry, status), shared = await self.flight.run(
            fkey, lambda: self._fetch(kind, repo_id, options, caller)
        )
        if shared:
            status = "coalesced"
        self.m_cache.inc(kind=kind, outcome=status)
        return Outcome(entry.body_for(revision), status, entry.commit)

    # -- internals -------------------------------------------------------------------------------------
    def _result_key(self, kind: str, repo_id: str, res: Resolution, okey: str, caller: Caller) -> ResultKey:
        access = PUBLIC if res.public else caller.scope
        return (kind, self.endpoint, repo_id, res.commit, okey, access)

    def _worth_revalidating(
        self, kind: str, repo_id: str, options: Options, okey: str, caller: Caller
    ) -> bool:
        """Could one cheap resolve avoid a full analysis? Yes if a result for the commit this revision
        last pointed at is cached, for this caller's scope or as public."""
        stale = self.resolutions.get_stale((repo_id, options.revision, options.subfolder, caller.scope))
        if stale is not None and self._result_key(kind, repo_id, stale, okey, caller) in self.results:
            return True
        commits = {self.public_hints.get_stale((repo_id, options.revision, options.subfolder))}
        if _SHA.match(options.revision):
            commits.add(options.revision)  # another revision may have led to this very commit
        return any(
            (kind, self.endpoint, repo_id, commit, okey, access) in self.results
            for commit in commits
            if commit is not None
            for access in (PUBLIC, caller.scope)
        )

    async def _revalidate(self, rkey: ResolutionKey, caller: Caller) -> Resolution | None:
        repo_id, revision, _, _ = rkey

        async def work() -> Resolution | None:
            res = await self._upstream_call(lambda: self.backend.resolve(repo_id, revision, caller.token))
            self.m_resolves.inc(outcome="ok" if res is not None else "unsupported")
            return res

        res, _ = await self.resolve_flight.run(rkey, work)
        if res is None:
            return None
        if res.public is None:  # unknown: keep results private to this scope
            res = Resolution(res.commit, public=False)
        self.resolutions.put(rkey, res)
        if res.public:
            self.public_hints.put((repo_id, revision, rkey[2]), res.commit)
        return res

    async def _upstream_call(self, call: Callable[[], Awaitable[object]]) -> Resolution | None:
        try:
            async with asyncio.timeout(self.settings.upstream_timeout), self._upstream:
                result = await call()
        except TimeoutError:
            raise UpstreamTimeoutError(
                f"The Hub did not answer within {self.settings.upstream_timeout:g} s."
            ) from None
        assert result is None or isinstance(result, Resolution)
        return result

    async def _fetch(
        self, kind: Kind, repo_id: str, options: Options, caller: Caller
    ) -> tuple[Entry, CacheStatus]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        outcome = "error"
        try:
            async with asyncio.timeout(self.settings.upstream_timeout):
                async with self._upstream:
                    self.upstream_running += 1
                    try:
                        payload: BaseModel
                        if kind == "check":
                            payload, analysis = await self.backend.check(repo_id, options, caller.token)
                        else:
                            analysis = await self.backend.analyze(repo_id, options, caller.token)
                            payload = analysis.report
                    finally:
                        self.upstream_running -= 1
            outcome = "ok"
        except TimeoutError:
            outcome = "timeout"
            raise UpstreamTimeoutError(
                f"{repo_id}: the Hub did not answer within {self.settings.upstream_timeout:g} s.",
                repo_id=repo_id,
            ) from None
        finally:
            self.m_upstream.inc(kind=kind, outcome=outcome)
            self.m_upstream_seconds.observe(loop.time() - started, kind=kind)
        return self._store(kind, repo_id, options, caller, payload, analysis), "miss"

    def _store(
        self,
        kind: Kind,
        repo_id: str,
        options: Options,
        caller: Caller,
        payload: BaseModel,
        analysis: Analysis,
    ) -> Entry:
        report = analysis.report
        # success without any token means anyone may read it; otherwise trust only the Hub's explicit word
        public = analysis.public is True or caller.token is None
        body = payload.model_dump_json().encode()
        commit = report.commit
        if commit is None or not _SHA.match(commit):
            # nothing immutable to key on: serve it, never cache it
            return Entry(payload, options.revision, body, commit or "", public)
        entry = Entry(payload, options.revision, body, commit, public)
        res = Resolution(commit, public)
        self.resolutions.put((repo_id, options.revision, options.subfolder, caller.scope), res)
        if public:
            self.public_hints.put((repo_id, options.revision, options.subfolder), commit)
        self.results.put(
            self._result_key(kind, repo_id, res, options_key(options), caller), entry, size=len(body)
        )
        return entry

    def cache_stats(self) -> dict[str, int]:
        return {
            "entries": len(self.results),
            "bytes": self.results.total_bytes,
            "max_entries": self.results.max_entries,
            "evictions": self.results.stats.evictions,
            "resolutions": len(self.resolutions),
        }
