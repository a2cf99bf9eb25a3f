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

Header reads (:meth:`HubClient.read_header`) are range reads, see :mod:`hubmem.fetch.ranges`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Self

import httpx
from huggingface_hub import constants as hf_constants
from huggingface_hub import get_token
from huggingface_hub.utils import build_hf_headers

from hubmem.errors import EntryNotFoundError, HubmemError, NetworkError, OfflineError, UnauthorizedError
from hubmem.fetch.http.answers import error_from_response, one_line
from hubmem.fetch.http.redirects import Reader, authorize, exchange, origin
from hubmem.fetch.http.response import HubResponse
from hubmem.fetch.http.retry import RETRY_STATUSES, HubState, backoff_delay, server_wait
from hubmem.fetch.http.trace import Trace
from hubmem.fetch.ranges import DEFAULT_FIRST_READ, HeaderRead, read_header
from hubmem.snapshot import FetchStats

Sleep = Callable[[float], Awaitable[None]]


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
        from hubmem import __version__

        self.endpoint = (endpoint or hf_constants.ENDPOINT).rstrip("/")
        self._endpoint_origin = origin(httpx.URL(self.endpoint))
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
        return backoff_delay(attempt, self.backoff_base, self.backoff_max)

    server_wait = staticmethod(server_wait)

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
        authorize(request, self._token, self._endpoint_origin)

    def _count(self, trace: Trace, *, requests: int = 0, nbytes: int = 0) -> None:
        for stats in {id(s): s for s in (trace.stats, self.stats)}.values():
            stats.requests += requests
            stats.bytes_received += nbytes
        trace.depth += requests

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
                response = await exchange(
                    self, method, url, params=params, data=data, headers=headers, trace=trace, reader=reader
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
        return await read_header(
            self, url, path=path, first_bytes=first_bytes, trace=trace, repo_id=repo_id, revision=revision
        )
