"""HubClient: one pooled ``httpx2.AsyncClient`` for everything hubmem reads from the Hub, and the whole
HTTP protocol on it, in the class that holds its state: bounded concurrency, retries with backoff and
server-requested pauses shared by every request (:mod:`~hubmem.fetch.http.retry`), redirects followed here
with the token sent to the endpoint's origin only (so the 302 to the CDN arrives there without
``Authorization``), ``HF_HUB_OFFLINE`` honoured before any connection, every exchange counted through a
:class:`Trace`, final error answers turned into typed errors (:mod:`~hubmem.fetch.http.answers`)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Any, Self

import httpx2
from huggingface_hub import constants as hf_constants
from huggingface_hub import get_token

from hubmem.errors import EntryNotFoundError, HubmemError, NetworkError, OfflineError, UnauthorizedError
from hubmem.fetch.http.answers import (
    ENDPOINT_HINT,
    error_from_response,
    exchange_failed,
    name_not_resolved,
    one_line,
    redact,
)
from hubmem.fetch.http.pool import connection_pool, pool_size
from hubmem.fetch.http.pool import user_agent as hub_user_agent
from hubmem.fetch.http.ranges import read_header
from hubmem.fetch.http.response import HubResponse, Reader, Redirect, final_response, read_redirect
from hubmem.fetch.http.retry import RETRY_STATUSES, HubState, Pacer, Sleep, server_wait
from hubmem.fetch.http.trace import Trace
from hubmem.snapshot import FetchStats

Origin = tuple[str, str, int | None]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
_DEFAULT_PORTS = {"http": 80, "https": 443}
_RETRIED_ERRORS = (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError)


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


def origin(url: httpx2.URL) -> Origin:
    return (url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme))


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
        client: httpx2.AsyncClient | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        max_concurrency: int = 32,
        timeout: float | httpx2.Timeout = 10.0,
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
        self.endpoint = (endpoint or hf_constants.ENDPOINT).rstrip("/")
        self._endpoint_origin = origin(httpx2.URL(self.endpoint))
        self._token = _resolve_token(token)
        self.max_retries = max(0, max_retries)
        self.max_wait = max_wait
        self.use_metadata_route = use_metadata_route
        self.state = state if state is not None else HubState()
        self.stats = FetchStats()  # lifetime totals of this client
        self._pacer = Pacer(
            self.state, sleep or asyncio.sleep, clock or time.monotonic, (backoff_base, backoff_max)
        )
        # concurrency slots: as many as the pool has connections when the pool is this client's own (so no
        # request waits inside httpcore2's pool, and no origin sees more connections than slots)
        slots = pool_size(max_concurrency) if client is None else max(1, max_concurrency)
        self._semaphore = asyncio.Semaphore(slots)
        self._headers = {"user-agent": hub_user_agent(user_agent)}  # no token: _authorize adds it per hop
        self._owns_client = client is None
        self._client = (
            client
            if client is not None
            else connection_pool(
                max_concurrency, timeout, http2=http2, transport=transport, headers=self._headers
            )
        )

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

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    def pause(self, seconds: float) -> None:
        """Hold every request of this client (and of clients sharing its ``state``) for ``seconds``."""
        self._pacer.pause(seconds)

    def api_url(self, repo_id: str, *parts: str) -> str:
        """``{endpoint}/api/models/{repo_id}/...``; ``parts`` must already be quoted."""
        return "/".join([f"{self.endpoint}/api/models/{repo_id}", *parts])

    # -- the one request path --------------------------------------------------------------------

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
            await self._pacer.wait_paused()
            if getattr(hf_constants, "HF_HUB_OFFLINE", False):
                raise OfflineError(f"HF_HUB_OFFLINE is set: not connecting to {redact(self.endpoint)}")
            try:
                response = await self._exchange(method, url, params, data, headers, trace, reader)
            except _RETRIED_ERRORS as exc:
                if attempt >= self.max_retries or name_not_resolved(exc):  # DNS: fail fast
                    raise exchange_failed(exc, attempt + 1, url, repo_id, path) from None
                attempt += 1
                await self._pacer.backoff(attempt)
                continue
            except httpx2.HTTPError as exc:  # invalid URL, unsupported scheme, ...
                text = f"{redact(url)}: {type(exc).__name__}: {redact(str(exc))}"
                raise NetworkError(one_line(text), repo_id=repo_id, hint=ENDPOINT_HINT) from None
            if response.status not in RETRY_STATUSES:
                return response
            wait = server_wait(response.status, response.headers)
            if attempt >= self.max_retries or (wait is not None and wait > self.max_wait):
                raise self.error(response, repo_id=repo_id, path=path, revision=revision, retry_after=wait)
            attempt += 1
            if wait is not None:
                self.pause(wait)  # shared by every request of this client
            else:
                await self._pacer.backoff(attempt)

    async def _exchange(
        self,
        method: str,
        url: str,
        params: Any,
        data: Any,
        headers: Mapping[str, str] | None,
        trace: Trace,
        reader: Reader | None,
    ) -> HubResponse:
        """One exchange, following redirects hop by hop; returns the final response (errors included)."""
        redirects: list[Redirect] = []
        current = httpx2.URL(url)
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
                await self._pacer.wait_paused()
                response = await self._client.send(request, stream=True, follow_redirects=False)
                try:
                    location = response.headers.get("location")
                    if response.status_code not in REDIRECT_STATUSES or not location:
                        return await final_response(response, reader, redirects)
                    redirects.append(await read_redirect(response))
                    current = response.url.join(location)
                    method, data = _redirected(response.status_code, method, data)
                finally:
                    await response.aclose()
                    self._count(trace, nbytes=response.num_bytes_downloaded)
        raise NetworkError(f"{redact(url)}: more than {MAX_REDIRECTS} redirects")

    def _authorize(self, request: httpx2.Request) -> None:
        """Attach the token when the request goes to the endpoint's origin; strip credentials otherwise."""
        if self._token is not None and origin(request.url) == self._endpoint_origin:
            request.headers["authorization"] = f"Bearer {self._token}"
        else:
            request.headers.pop("authorization", None)
            request.headers.pop("cookie", None)

    def _count(self, trace: Trace, *, requests: int = 0, nbytes: int = 0) -> None:
        for stats in {id(s): s for s in (trace.stats, self.stats)}.values():
            stats.requests += requests
            stats.bytes_received += nbytes
        trace.depth += requests

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

    # -- Hub answers ---------------------------------------------------------------------------------

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
    ) -> HubResponse | None:
        """GET whose error statuses raise typed errors; ``missing_ok`` turns a file 404 into None."""
        where: dict[str, Any] = {"repo_id": repo_id, "path": path, "revision": revision}
        response = await self.request("GET", url, params=params, trace=trace, **where)
        if response.status < 400:
            return response
        err = self.error(response, **where)
        if missing_ok and isinstance(err, EntryNotFoundError):
            return None
        raise err

    async def get_json(
        self,
        url: str,
        *,
        params: Any = None,
        trace: Trace | None = None,
        repo_id: str | None = None,
        path: str | None = None,
        revision: str | None = None,
    ) -> tuple[Any, HubResponse]:
        """GET an API route and decode its JSON answer (error statuses raise typed errors)."""
        response = await self.get(
            url, params=params, trace=trace, repo_id=repo_id, path=path, revision=revision
        )
        assert response is not None
        return response.json(repo_id or url, repo_id), response

    async def post_json(
        self,
        url: str,
        data: Any,
        *,
        trace: Trace | None = None,
        repo_id: str | None = None,
        revision: str | None = None,
    ) -> tuple[Any, HubResponse]:
        """POST ``data`` (form-encoded) to an API route and decode its JSON answer (error statuses raise
        typed errors)."""
        response = await self.request("POST", url, data=data, trace=trace, repo_id=repo_id, revision=revision)
        if response.status >= 400:
            raise self.error(response, repo_id=repo_id, revision=revision)
        return response.json(repo_id or url, repo_id), response

    # one safetensors header by range reads: hubmem.fetch.http.ranges.read_header(self, url, path=...,
    # first_bytes=..., trace=..., repo_id=..., revision=...), which uses only request() and error()
    read_header = read_header


def _redirected(status: int, method: str, data: Any) -> tuple[str, Any]:
    """The method and body of the next hop: 303 (and 301/302 after a POST) turn into a body-less GET."""
    if status == 303 or (status in (301, 302) and method == "POST"):
        return "GET", None
    return method, data
