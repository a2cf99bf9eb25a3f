"""What the service asks of the core: fetch a repo (upstream), build a report from it (local), and,
cheaply, resolve a revision.

``HubBackend`` is the real one: ``hubmem.fetch.hub.fetch_snapshot`` + ``hubmem.pipeline.build_report``, i.e.
exactly the code path of ``hubmem REPO --json`` (``analyze_async`` is those two calls). Tests may inject
any object with the same methods.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

import httpx2
import msgspec
from pydantic import BaseModel

from hubmem.errors import NotImplementedYetError
from hubmem.fetch.cache.store import HeaderCache
from hubmem.fetch.http.client import HubClient
from hubmem.fetch.http.pool import connection_pool
from hubmem.fetch.hub import fetch_snapshot
from hubmem.fetch.revision import commit_of, revision_info
from hubmem.pipeline import build_report
from hubmem.schema.options import Options

# parsed JSON headers weigh several times their text in Python objects (dicts, lists, ints, strs)
HEADER_WEIGHT = 8
SNAPSHOT_OVERHEAD = 64 * 1024


class Fetched(msgspec.Struct, frozen=True):
    """What one upstream fetch produced: the snapshot (opaque to the core) and what the cache needs."""

    snapshot: Any  # hubmem.snapshot.Snapshot for HubBackend
    commit: str | None  # the 40-hex sha it was read at (None: not cacheable)
    # True when the Hub says the repo is neither gated nor private (results may be shared by every caller);
    # False or None (unknown) keeps the results private to the credentials that read it
    public: bool | None = None
    weight: int = 0  # estimated memory of the snapshot in bytes (for the snapshot LRU's cap)
    seconds: float | None = None  # how long the fetch took (the report's fetch.seconds)
    tensors: int = 0  # entries in the weight headers: what a build's CPU time grows with


class Resolution(msgspec.Struct, frozen=True):
    commit: str
    public: bool | None = None


class Backend(Protocol):
    endpoint: str

    async def fetch(
        self, repo_id: str, revision: str, subfolder: str | None, token: str | None, *, hub_info: bool = False
    ) -> Fetched:
        """The upstream part: read the repo at ``revision`` with ``token`` (None = anonymous); ``hub_info``
        also reads what the cross-check compares against (the Hub's summary, file sizes)."""
        ...

    async def build(self, kind: str, fetched: Fetched, options: Options) -> BaseModel:
        """The local part: ``kind`` "report" -> Report, "check" -> CheckReport (no I/O)."""
        ...

    async def resolve(self, repo_id: str, revision: str, token: str | None) -> Resolution | None:
        """revision -> commit with one cheap request, or None when the backend cannot."""
        ...

    async def aclose(self) -> None: ...


def is_public(hub_info: dict[str, Any] | None) -> bool | None:
    """From the Hub's model info: True only when it says not gated and not private."""
    if not isinstance(hub_info, dict) or "gated" not in hub_info or "private" not in hub_info:
        return None  # both must be stated: a missing "private" proves nothing
    return hub_info["gated"] is False and hub_info["private"] is False


class HubBackend:
    """The real backend: the configured Hub, the caller's token (or none), the pipeline's code path.

    One pooled httpx2 client is shared by every request (a cookie jar that stores nothing, so nothing
    of one caller's exchange can reach another's); each analysis gets its own ``HubClient`` carrying
    only that caller's token, which ``HubClient`` sends to the endpoint's origin only.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        request_timeout: float = 10.0,
        max_retries: int = 3,
        max_wait: float = 5.0,
        backoff_base: float = 0.5,
        max_connections: int = 64,
        cache: HeaderCache | None = None,
    ) -> None:
        from huggingface_hub import constants

        self.endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
        self.request_timeout = request_timeout
        self.max_retries = max_retries
        self.max_wait = max_wait  # a Retry-After longer than this is passed on to the caller (429)
        self.backoff_base = backoff_base
        self.max_connections = max_connections
        # on disk, keyed by commit (and by token for gated / private repos): shared by service processes and
        # the CLI; every fetch still makes its revision request with the caller's token, which checks access
        self.cache = cache
        self._http: httpx2.AsyncClient | None = None

    def _pool(self) -> httpx2.AsyncClient:
        if self._http is None:
            self._http = connection_pool(self.max_connections, self.request_timeout, isolated=True)
        return self._http

    def _client(self, token: str | None) -> HubClient:
        # token=False: never fall back to the server's own token (get_token()) for an anonymous caller
        return HubClient(
            endpoint=self.endpoint,
            token=token or False,
            client=self._pool(),
            max_concurrency=self.max_connections,
            max_retries=self.max_retries,
            max_wait=self.max_wait,
            backoff_base=self.backoff_base,
        )

    async def fetch(
        self, repo_id: str, revision: str, subfolder: str | None, token: str | None, *, hub_info: bool = False
    ) -> Fetched:
        """``fetch_snapshot``, exactly as ``hubmem.pipeline.analyze_async`` calls it (``check=True`` there
        is ``with_hub_info=True`` here)."""
        started = time.perf_counter()
        async with self._client(token) as client:
            snapshot = await fetch_snapshot(
                client,
                repo_id,
                revision=revision,
                subfolder=subfolder,
                with_hub_info=hub_info,
                cache=self.cache,
            )
        weight = SNAPSHOT_OVERHEAD + sum(HEADER_WEIGHT * f.header_length for f in snapshot.files)
        public = is_public(snapshot.hub_info)
        tensors = sum(len(f.tensor_names()) for f in snapshot.files)
        return Fetched(snapshot, snapshot.commit, public, weight, time.perf_counter() - started, tensors)

    async def build(self, kind: str, fetched: Fetched, options: Options) -> BaseModel:
        """``build_report`` (parse + estimate [+ cross-check]) in a worker thread: a large repo takes CPU
        seconds. "check" answers the report's ``check`` section, as ``hubmem check --json`` prints it."""
        check = kind == "check"
        report = await asyncio.to_thread(
            build_report, fetched.snapshot, options, seconds=fetched.seconds, check=check
        )
        if not check:
            return report
        if report.check is None:  # pragma: no cover - build_report(check=True) always fills it
            raise NotImplementedYetError("This build of hubmem produced no cross-check.")
        return report.check

    async def resolve(self, repo_id: str, revision: str, token: str | None) -> Resolution | None:
        """One API request: the commit and visibility, checked with the caller's token."""
        async with self._client(token) as client:
            info = await revision_info(client, repo_id, revision, ["sha", "gated", "private"])
        sha = commit_of(info)
        if sha is None:
            return None
        return Resolution(commit=sha, public=is_public(info))

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
