"""Routes of mocked HTTP answers for the unit tests, over httpx2's own ``MockTransport``.

respx (the usual mock) patches httpx 0.x and httpcore only; hubmem fetches with httpx2, so the tests route
requests through the transport httpx2 provides for this. The surface is the small part of respx's that
the tests use: ``router.get(url)`` / ``router.route(host=...)`` then ``.respond(...)`` or
``.mock(side_effect=...)``; ``route.calls`` (``.last``), ``route.call_count``, ``route.called``;
``router.calls``.
The first matching route answers; a request no route matches fails the test (as respx's does).

    with mock_http() as router:          # every HubClient built inside uses the router's transport
        route = router.get(URL).respond(200, json={})
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple
from unittest import mock

import httpx2

from hubmem.fetch.http import client as client_module
from hubmem.fetch.http.pool import connection_pool

Answer = httpx2.Response | Awaitable[httpx2.Response]
Effect = Callable[[httpx2.Request], Answer] | BaseException | type[BaseException] | httpx2.Response


class Call(NamedTuple):
    request: httpx2.Request
    response: httpx2.Response | None  # None when the side effect raised


class Calls(list[Call]):
    """The calls of a route or router, oldest first (``.last``: the newest, as respx's)."""

    @property
    def last(self) -> Call:
        return self[-1]


class Route:
    """One route: a method and URL (or host) to match, and what it answers."""

    def __init__(self, method: str | None = None, url: str | None = None, host: str | None = None) -> None:
        self.method, self.url, self.host = method, None if url is None else httpx2.URL(url), host
        self.calls = Calls()
        self._effects: list[Effect] = []
        self._repeat: Effect | None = None

    @property
    def call_count(self) -> int:
        return len(self.calls)

    @property
    def called(self) -> bool:
        return bool(self.calls)

    def matches(self, request: httpx2.Request) -> bool:
        if self.method is not None and request.method != self.method:
            return False
        if self.host is not None and request.url.host != self.host:
            return False
        if self.url is None:
            return True
        if self.url.query:  # a pattern without a query matches any query, as respx's
            return request.url == self.url
        return request.url.copy_with(query=None) == self.url

    def respond(
        self,
        status_code: int = 200,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> Route:
        """Answer every call with this response (a fresh one per call)."""

        def answer(request: httpx2.Request) -> httpx2.Response:
            if json is not None:
                return httpx2.Response(status_code, json=json, headers=headers)
            return httpx2.Response(status_code, content=content, headers=headers)

        return self.mock(side_effect=answer)

    def mock(self, *, side_effect: Effect | list[Effect]) -> Route:
        """A callable (called per request), an exception (raised), a response, or a list of those: one
        per call, in order (a call past the end of the list fails the test)."""
        if isinstance(side_effect, list):
            self._effects, self._repeat = list(side_effect), None
        else:
            self._effects, self._repeat = [], side_effect
        return self

    async def answer(self, request: httpx2.Request) -> httpx2.Response:
        if self._repeat is None and not self._effects:
            raise AssertionError(
                f"route {self.method} {self.url or self.host}: no answer left for {request.url}"
            )
        effect = self._repeat if self._repeat is not None else self._effects.pop(0)
        try:
            response = await _apply(effect, request)
        except BaseException:
            self.calls.append(Call(request, None))
            raise
        self.calls.append(Call(request, response))
        return response


async def _apply(effect: Effect, request: httpx2.Request) -> httpx2.Response:
    if isinstance(effect, httpx2.Response):
        return effect
    if isinstance(effect, type) and issubclass(effect, httpx2.RequestError):
        raise effect("mocked", request=request)  # as respx raises an httpx error class
    if isinstance(effect, BaseException) or (isinstance(effect, type) and issubclass(effect, BaseException)):
        raise effect
    result = effect(request)
    return await result if inspect.isawaitable(result) else result


class _Body(httpx2.AsyncByteStream):
    """A body that arrives as a network one does, in chunks, so ``num_bytes_downloaded`` counts it and a
    reader may stop early (a response built from bytes is read whole at construction)."""

    def __init__(self, content: bytes, chunk: int = 4096) -> None:
        self.content, self.chunk = content, chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i in range(0, len(self.content), self.chunk):
            yield self.content[i : i + self.chunk]


def _as_network(response: httpx2.Response) -> httpx2.Response:
    if not isinstance(response.stream, httpx2.ByteStream):
        return response  # already streamed
    return httpx2.Response(response.status_code, headers=response.headers, stream=_Body(response.content))


class Router:
    """The routes of one test, in the order they were added, and every call they answered."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.calls = Calls()
        self.transport = httpx2.MockTransport(self._handle)

    def get(self, url: str) -> Route:
        return self._add(Route("GET", url))

    def route(self, *, host: str | None = None, method: str | None = None, url: str | None = None) -> Route:
        return self._add(Route(method, url, host))

    def _add(self, route: Route) -> Route:
        """A route for a pattern already routed replaces it (respx updates the same route)."""
        key = (route.method, route.url, route.host)
        self.routes = [r for r in self.routes if (r.method, r.url, r.host) != key] + [route]
        return route

    async def _handle(self, request: httpx2.Request) -> httpx2.Response:
        for route in self.routes:
            if route.matches(request):
                response = await route.answer(request)
                self.calls.append(route.calls[-1])
                return _as_network(response)
        raise AssertionError(f"no mocked route for {request.method} {request.url}")


@contextmanager
def mock_http() -> Iterator[Router]:
    """A router whose transport every :class:`HubClient` built inside the block uses (unless the test
    passes its own ``transport=`` or ``client=``)."""
    router = Router()

    def pool(*args: Any, **kw: Any) -> httpx2.AsyncClient:
        if kw.get("transport") is None:
            kw["transport"] = router.transport
        return connection_pool(*args, **kw)

    with mock.patch.object(client_module, "connection_pool", pool):
        yield router
