"""HubClient: one pooled ``httpx.AsyncClient`` for everything hubmem reads from the Hub.

What it does for every request:

- bounded concurrency (an ``asyncio.Semaphore`` around each HTTP exchange, never held while sleeping)
  and a connection pool of the same size; HTTP/2 when ``h2`` is installed;
- retries with exponential backoff and jitter on 408/429/5xx, timeouts and connection errors, at most
  ``max_retries`` times; a server-requested wait (``Retry-After`` in seconds or as an HTTP date, or
  ``RateLimit: "...";r=0;t=N``, parsed by ``huggingface_hub.utils.parse_ratelimit_headers``) becomes
  a *global* pause that every request of the client honours; a wait longer than ``max_wait`` is not
  slept through but raised at once as ``RateLimitedError(retry_after=...)``;
- redirects are followed here, not by httpx: the token is attached to a request only when its origin
  (scheme, host, port) is the endpoint's origin, so the 302 to the CDN arrives there without
  ``Authorization`` (httpx itself would keep it on an http -> https upgrade, and an injected client
  may carry default headers);
- ``HF_HUB_OFFLINE`` (read from ``huggingface_hub.constants`` at call time) raises ``OfflineError``
  before any connection; requests, bytes and sequential round trips are counted into ``FetchStats``
  through a :class:`Trace`.

Header reads (:meth:`HubClient.read_header`) send ``Range`` with ``Accept-Encoding: identity``,
check for 206 + ``Content-Range``, and stream the body: the u64 length is checked after the first
8 bytes (N > 25,000,000 is refused without reading further) and, when a server ignores ``Range``
(200), the stream is closed as soon as ``8 + N`` bytes are in, so weights are never downloaded.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import httpx
from huggingface_hub import constants as hf_constants
from huggingface_hub import get_token
from huggingface_hub.utils import build_hf_headers, parse_ratelimit_headers

from ..errors import CorruptHeaderError, HubmemError, NetworkError, OfflineError, UnauthorizedError
from ..parse.header import MAX_HEADER_LENGTH, decode_header, read_header_length
from ..snapshot import FetchStats
from .errors import EntryNotFoundError, error_from_response, one_line, retry_after_seconds

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
ERROR_BODY_CAP = 1 << 20  # read at most 1 MiB of an error or redirect body
JSON_BODY_CAP = 256 << 20  # an API answer larger than this is refused
DEFAULT_FIRST_READ = 100_000  # bytes of the first range read when nothing better is known
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.I)
_DEFAULT_PORTS = {"http": 80, "https": 443}

Sleep = Callable[[float], Awaitable[None]]
Reader = Callable[[httpx.Response], Awaitable[bytes]]


@dataclass
class HubState:
    """What a client learns about the endpoint: the shared pause and whether the
    safetensors-metadata route exists. Pass one ``state=`` to several HubClients (e.g. one per
    caller token over one pool) so that a 429 pauses all of them."""

    paused_until: float = 0.0  # on the client's clock
    metadata_route_unavailable: bool = False


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


@dataclass
class Redirect:
    status: int
    url: str
    headers: httpx.Headers


@dataclass
class HubResponse:
    """A final response (after redirects), its body already read (capped) and the redirect chain."""

    url: str
    status: int
    reason: str
    headers: httpx.Headers
    content: bytes
    redirects: list[Redirect] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """``name`` from the final response, else from the latest redirect that has it."""
        value = self.headers.get(name)
        if value:
            return value
        for hop in reversed(self.redirects):
            value = hop.headers.get(name)
            if value:
                return value
        return None

    @property
    def commit(self) -> str | None:
        """``X-Repo-Commit``: the sha the revision resolved to (on the 302 for LFS files)."""
        return self.header(hf_constants.HUGGINGFACE_HEADER_X_REPO_COMMIT)

    @property
    def linked_size(self) -> int | None:
        """``X-Linked-Size`` of an LFS/Xet file (on the 302 to the CDN)."""
        return _int_or_none(self.header(hf_constants.HUGGINGFACE_HEADER_X_LINKED_SIZE))


@dataclass(frozen=True)
class HeaderRead:
    """A safetensors header read with range requests."""

    path: str
    header_length: int
    header: dict[str, Any]
    size: int | None  # real file size (X-Linked-Size, Content-Range total, or Content-Length of a 200)
    commit: str | None  # X-Repo-Commit of the resolve request


def _int_or_none(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme))


def parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """``bytes a-b/total`` -> (a, b, total or None)."""
    if not value:
        return None
    m = _CONTENT_RANGE.match(value)
    if not m:
        return None
    total = None if m.group(3) == "*" else int(m.group(3))
    return int(m.group(1)), int(m.group(2)), total


def _http2_available() -> bool:
    try:
        import h2  # noqa: F401
    except ImportError:
        return False
    return True


def _resolve_token(token: str | bool | None) -> str | None:
    if token is False:
        return None
    if isinstance(token, str):
        return token.strip() or None
    if token is None and getattr(hf_constants, "HF_HUB_DISABLE_IMPLICIT_TOKEN", False):
        return None
    found = get_token()
    if token is True and not found:
        raise UnauthorizedError(
            "token=True but no Hugging Face token was found (HF_TOKEN, the token file, `hf auth login`)"
        )
    return found


class HubClient:
    """Async Hub client; use as ``async with HubClient() as hub: await fetch_snapshot(hub, repo)``.

    ``endpoint=None`` uses ``huggingface_hub.constants.ENDPOINT`` (honours ``HF_ENDPOINT``);
    ``token=None`` uses ``huggingface_hub.get_token()``, ``token=False`` is anonymous. Pass
    ``transport=`` (tests, ASGI apps) or an existing ``client=`` (its pool is shared and not closed).
    ``sleep``/``clock``/``backoff_base`` make retry waits injectable (tests); ``state`` shares the
    rate-limit pause and what was learnt about the endpoint with other clients.
    """

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        token: str | bool | None = None,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_concurrency: int = 32,
        timeout: float | httpx.Timeout = 10.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        max_wait: float = 120.0,
        http2: bool | None = None,
        sleep: Sleep | None = None,
        clock: Callable[[], float] | None = None,
        use_metadata_route: bool = True,
        user_agent: str | None = None,
        state: HubState | None = None,
    ) -> None:
        from .. import __version__

        self.endpoint = (endpoint or hf_constants.ENDPOINT).rstrip("/")
        self._endpoint_origin = _origin(httpx.URL(self.endpoint))
        self._token = _resolve_token(token)
        self.max_retries = max(0, max_retries)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_wait = max_wait
        self.use_metadata_route = use_metadata_route
        self.state = state if state is not None else HubState()
        self.stats = FetchStats()  # lifetime totals of this client
        self._sleep: Sleep = sleep or asyncio.sleep
        self._clock: Callable[[], float] = clock or time.monotonic
        self._semaphore = asyncio.Semaphore(max(1, max_concurrency))
        self._headers: dict[str, str] = dict(
            build_hf_headers(
                token=False, library_name="hubmem", library_version=__version__, user_agent=user_agent
            )
        )
        self._headers.pop("authorization", None)
        if client is not None:
            self._client = client
            self._owns_client = False
        else:
            self._client = httpx.AsyncClient(
                transport=transport,
                http2=_http2_available() if http2 is None else http2,
                timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
                limits=httpx.Limits(
                    max_connections=max(1, max_concurrency), max_keepalive_connections=max(1, max_concurrency)
                ),
                follow_redirects=False,
                headers=self._headers,
            )
            self._owns_client = True

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def authenticated(self) -> bool:
        return self._token is not None

    @property
    def token_id(self) -> str | None:
        """A one-way fingerprint of the token (scopes cached gated/private content); None if anonymous."""
        if self._token is None:
            return None
        return hashlib.sha256(self._token.encode("utf-8")).hexdigest()[:16]

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    # -- URLs --------------------------------------------------------------------------------------

    def api_url(self, repo_id: str, *parts: str) -> str:
        """``{endpoint}/api/models/{repo_id}/...``; ``parts`` must already be quoted."""
        return "/".join([f"{self.endpoint}/api/models/{repo_id}", *parts])

    # -- retries and pauses ------------------------------------------------------------------------

    def _check_offline(self) -> None:
        if getattr(hf_constants, "HF_HUB_OFFLINE", False):
            raise OfflineError(f"HF_HUB_OFFLINE is set: not connecting to {self.endpoint}")

    def _backoff(self, attempt: int) -> float:
        delay = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return delay / 2 + random.uniform(0, delay / 2)

    @staticmethod
    def server_wait(status: int, headers: Mapping[str, str]) -> float | None:
        """What the server asked for: ``Retry-After``, else ``RateLimit`` with ``r=0`` on a 429."""
        wait = retry_after_seconds(headers)
        if wait is not None:
            return wait
        if status == 429:
            info = parse_ratelimit_headers(headers)
            if info is not None and info.remaining == 0:
                return float(info.reset_in_seconds) + 1.0  # the window resets within t seconds (integer)
        return None

    def pause(self, seconds: float) -> None:
        """Hold every request of this client for ``seconds`` (extends, never shortens, a pause)."""
        until = self._clock() + seconds
        if until > self.state.paused_until:
            self.state.paused_until = until

    async def _wait_paused(self) -> None:
        while True:
            target = self.state.paused_until
            delay = target - self._clock()
            if delay <= 0:
                return
            await self._sleep(delay)
            if self.state.paused_until <= target:
                return

    # -- the one request path --------------------------------------------------------------------

    def _authorize(self, request: httpx.Request) -> None:
        if self._token is not None and _origin(request.url) == self._endpoint_origin:
            request.headers["authorization"] = f"Bearer {self._token}"
        else:
            request.headers.pop("authorization", None)
            request.headers.pop("cookie", None)

    def _count(self, trace: Trace, *, requests: int = 0, nbytes: int = 0) -> None:
        for stats in {id(s): s for s in (trace.stats, self.stats)}.values():
            stats.requests += requests
            stats.bytes_received += nbytes
        trace.depth += requests

    @staticmethod
    async def _read_capped(response: httpx.Response, cap: int, *, strict: bool) -> bytes:
        buf = bytearray()
        async for chunk in response.aiter_bytes():
            buf += chunk
            if len(buf) > cap:
                if strict:
                    raise NetworkError(f"{response.url}: response larger than {cap:,} bytes")
                del buf[cap:]
                break
        return bytes(buf)

    async def _exchange(
        self,
        method: str,
        url: str,
        *,
        params: Any,
        data: Any,
        headers: Mapping[str, str] | None,
        trace: Trace,
        reader: Reader | None,
    ) -> HubResponse:
        redirects: list[Redirect] = []
        current = httpx.URL(url)
        for hop in range(MAX_REDIRECTS + 1):
            request = self._client.build_request(
                method,
                current,
                params=params if hop == 0 else None,
                data=data,
                headers={**self._headers, **(headers or {})},
            )
            self._authorize(request)
            self._count(trace, requests=1)
            async with self._semaphore:
                # a pause that began while this request queued for a slot holds it too (every
                # request waits during a global pause anyway, so keeping the slot costs nothing)
                await self._wait_paused()
                response = await self._client.send(request, stream=True, follow_redirects=False)
                try:
                    location = response.headers.get("location")
                    if response.status_code in REDIRECT_STATUSES and location:
                        await self._read_capped(response, ERROR_BODY_CAP, strict=False)
                        redirects.append(Redirect(response.status_code, str(response.url), response.headers))
                        current = response.url.join(location)
                        if response.status_code == 303 or (
                            response.status_code in (301, 302) and method == "POST"
                        ):
                            method, data = "GET", None
                        continue
                    if response.status_code >= 400 or reader is None:
                        cap = ERROR_BODY_CAP if response.status_code >= 400 else JSON_BODY_CAP
                        content = await self._read_capped(response, cap, strict=response.status_code < 400)
                    else:
                        content = await reader(response)
                    return HubResponse(
                        url=str(response.url),
                        status=response.status_code,
                        reason=response.reason_phrase,
                        headers=response.headers,
                        content=content,
                        redirects=redirects,
                    )
                finally:
                    await response.aclose()
                    self._count(trace, nbytes=response.num_bytes_downloaded)
        raise NetworkError(f"{url}: more than {MAX_REDIRECTS} redirects")

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        trace: Trace | None = None,
        reader: Reader | None = None,
        repo_id: str | None = None,
        path: str | None = None,
        revision: str | None = None,
    ) -> HubResponse:
        """One logical request with retries; returns the final response (4xx included).

        Raises ``NetworkError`` when timeouts / connection errors / 5xx persist after the retries,
        ``RateLimitedError`` when 429s persist or the server asks for a wait over ``max_wait``.
        """
        trace = trace if trace is not None else Trace()
        attempt = 0
        while True:
            await self._wait_paused()
            self._check_offline()
            try:
                response = await self._exchange(
                    method, url, params=params, data=data, headers=headers, trace=trace, reader=reader
                )
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                if attempt >= self.max_retries:
                    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
                    where = f"{repo_id}: {path}" if repo_id and path else (repo_id or url)
                    detail = str(exc) or type(exc).__name__
                    raise NetworkError(
                        one_line(f"{where}: {kind} after {attempt + 1} attempts ({detail})"), repo_id=repo_id
                    ) from None
                attempt += 1
                await self._sleep(self._backoff(attempt))
                continue
            except httpx.HTTPError as exc:  # invalid URL, unsupported scheme, ...
                raise NetworkError(one_line(f"{url}: {type(exc).__name__}: {exc}"), repo_id=repo_id) from None
            if response.status in RETRY_STATUSES:
                wait = self.server_wait(response.status, response.headers)
                if attempt >= self.max_retries or (wait is not None and wait > self.max_wait):
                    raise self.error(
                        response, repo_id=repo_id, path=path, revision=revision, retry_after=wait
                    )
                attempt += 1
                if wait is not None:
                    self.pause(wait)  # shared by every request of this client
                else:
                    await self._sleep(self._backoff(attempt))
                continue
            return response

    def error(
        self,
        response: HubResponse,
        *,
        repo_id: str | None = None,
        path: str | None = None,
        revision: str | None = None,
        retry_after: float | None = None,
    ) -> HubmemError:
        """The typed error for a final error response."""
        return error_from_response(
            status=response.status,
            reason=response.reason,
            headers=response.headers,
            body=response.content,
            url=response.url,
            repo_id=repo_id,
            revision=revision,
            path=path,
            authenticated=self.authenticated,
            endpoint=self.endpoint,
            retry_after=retry_after,
        )

    # -- conveniences --------------------------------------------------------------------------------

    async def get(
        self,
        url: str,
        *,
        params: Any = None,
        trace: Trace | None = None,
        repo_id: str | None = None,
        path: str | None = None,
        revision: str | None = None,
        missing_ok: bool = False,
        method: str = "GET",
        data: Any = None,
    ) -> HubResponse | None:
        """A request whose error statuses raise typed errors; ``missing_ok`` turns a file 404 into None."""
        response = await self.request(
            method, url, params=params, data=data, trace=trace, repo_id=repo_id, path=path, revision=revision
        )
        if response.status >= 400:
            err = self.error(response, repo_id=repo_id, path=path, revision=revision)
            if missing_ok and isinstance(err, EntryNotFoundError):
                return None
            raise err
        return response

    async def get_json(
        self,
        url: str,
        *,
        params: Any = None,
        trace: Trace | None = None,
        repo_id: str | None = None,
        path: str | None = None,
        revision: str | None = None,
        method: str = "GET",
        data: Any = None,
    ) -> tuple[Any, HubResponse]:
        """GET (or POST) an API route and decode its JSON answer."""
        response = await self.get(
            url,
            params=params,
            trace=trace,
            repo_id=repo_id,
            path=path,
            revision=revision,
            method=method,
            data=data,
        )
        assert response is not None
        try:
            return json.loads(response.content), response
        except ValueError:
            raise NetworkError(
                f"{repo_id or url}: the Hub answered {response.status} with a body that is not JSON",
                repo_id=repo_id,
            ) from None

    # -- safetensors headers -------------------------------------------------------------------------

    async def read_header(
        self,
        url: str,
        *,
        path: str,
        first_bytes: int = DEFAULT_FIRST_READ,
        trace: Trace | None = None,
        repo_id: str | None = None,
        revision: str | None = None,
    ) -> HeaderRead:
        """Read one safetensors header: a range read of ``first_bytes``, a second one only if
        ``8 + N`` exceeds what arrived. N is checked as soon as 8 bytes are in."""
        trace = trace if trace is not None else Trace()
        first_bytes = max(8, min(int(first_bytes), 8 + MAX_HEADER_LENGTH))
        total: list[int | None] = [None]

        async def first_reader(response: httpx.Response) -> bytes:
            limit: int | None
            if response.status_code == 206:
                span = parse_content_range(response.headers.get("content-range"))
                if span is None or span[0] != 0:
                    raise NetworkError(
                        f"{repo_id}: {path}: 206 with an unusable Content-Range "
                        f"{response.headers.get('content-range')!r}",
                        repo_id=repo_id,
                    )
                total[0] = span[2]
                limit = min(first_bytes, span[1] - span[0] + 1)
            elif response.status_code == 200:  # Range ignored: stop after the header
                if "content-encoding" not in response.headers:
                    total[0] = _int_or_none(response.headers.get("content-length"))
                limit = None
            else:
                raise NetworkError(
                    f"{repo_id}: {path}: unexpected status {response.status_code} for a range read"
                )
            buf = bytearray()
            n: int | None = None
            async for chunk in response.aiter_bytes():
                buf += chunk
                if n is None and len(buf) >= 8:
                    n = read_header_length(bytes(buf[:8]), file=path)  # refuses N > 25,000,000 here
                    if limit is None:
                        limit = 8 + n
                if limit is not None and len(buf) >= limit:
                    break
            if limit is not None:
                del buf[limit:]
            return bytes(buf)

        headers = {"Range": f"bytes=0-{first_bytes - 1}", "Accept-Encoding": "identity"}
        response = await self.request(
            "GET",
            url,
            headers=headers,
            trace=trace,
            reader=first_reader,
            repo_id=repo_id,
            path=path,
            revision=revision,
        )
        if response.status == 416:
            raise CorruptHeaderError(
                f"{path}: the file is empty (416 Range Not Satisfiable)", repo_id=repo_id
            )
        if response.status >= 400:
            raise self.error(response, repo_id=repo_id, path=path, revision=revision)
        data = response.content
        n = read_header_length(data[:8], file=path)
        end = 8 + n
        size = response.linked_size or total[0]
        if size is not None and size < end:
            raise CorruptHeaderError(
                f"{path}: header length {n:,} needs {end:,} bytes but the file has {size:,}", repo_id=repo_id
            )
        if len(data) < end:
            data += await self._read_span(
                response, url, len(data), end, trace=trace, repo_id=repo_id, path=path
            )
        if len(data) < end:
            raise CorruptHeaderError(f"{path}: file ends inside the {n:,}-byte header", repo_id=repo_id)
        header = decode_header(data[8:end], file=path)
        return HeaderRead(path=path, header_length=n, header=header, size=size, commit=response.commit)

    async def _read_span(
        self,
        first: HubResponse,
        url: str,
        start: int,
        end: int,
        *,
        trace: Trace,
        repo_id: str | None,
        path: str,
    ) -> bytes:
        """Bytes [start, end) of the file. Goes straight to the URL the first read ended at (the
        signed CDN URL, no token) and falls back to the resolve URL if that one is refused."""

        async def reader(response: httpx.Response) -> bytes:
            skip = 0
            if response.status_code == 206:
                span = parse_content_range(response.headers.get("content-range"))
                if span is None or span[0] != start:
                    raise NetworkError(
                        f"{repo_id}: {path}: 206 with Content-Range "
                        f"{response.headers.get('content-range')!r}, expected start {start}",
                        repo_id=repo_id,
                    )
            elif response.status_code == 200:  # Range ignored: skip what we already have
                skip = start
            else:
                raise NetworkError(
                    f"{repo_id}: {path}: unexpected status {response.status_code} for a range read"
                )
            want = skip + end - start
            buf = bytearray()
            async for chunk in response.aiter_bytes():
                buf += chunk
                if len(buf) >= want:
                    break
            return bytes(buf[skip:want])

        headers = {"Range": f"bytes={start}-{end - 1}", "Accept-Encoding": "identity"}
        candidates = [first.url, url] if first.url != url else [url]
        response: HubResponse | None = None
        for candidate in candidates:
            response = await self.request(
                "GET", candidate, headers=headers, trace=trace, reader=reader, repo_id=repo_id, path=path
            )
            if response.status < 400:
                return response.content
        assert response is not None
        raise self.error(response, repo_id=repo_id, path=path)
