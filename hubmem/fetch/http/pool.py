"""The httpx2 connection pool under HubClient, and under the service's pool shared by its callers, with what
every pool of a process shares: one SSL context and the request headers, built once.

The headers are built here rather than by ``huggingface_hub.utils.build_hf_headers``: its user agent asks
``detect_agent()``, which fetches ``{ENDPOINT}/api/agent-harnesses`` once a day (a request hubmem would
neither count nor want); hubmem sends the same user agent without that lookup."""

from __future__ import annotations

import functools
import os
import platform
import ssl
from collections.abc import Iterable, Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpcore2
import httpx2
from httpcore2._utils import is_socket_readable  # private, as the pool attribute below: tested
from huggingface_hub import __version__ as hf_hub_version
from huggingface_hub import constants as hf_constants

from hubmem._version import __version__

# Connections a pool keeps, whatever the concurrency: httpcore2 scans its pool per request, so the pool is
# bounded; 32 rather than 16 because a scan at 50 ms per response was bound by its slots at 16 (33 repos/s,
# every slot busy) and reaches 50 repos/s at 32, for +0.6 ms client CPU per repo (scripts/BENCHMARKS.md).
MAX_POOL = 32


def http2_available() -> bool:
    """Whether ``h2`` is installed (httpx2 then speaks HTTP/2 to servers that offer it)."""
    try:
        import h2  # noqa: F401
    except ImportError:
        return False
    return True


def user_agent(extra: str | None = None) -> str:
    """``hubmem/<v>; hf_hub/<v>; python/<v>[; extra][; origin/<HF_HUB_USER_AGENT_ORIGIN>]``: what
    ``build_hf_headers(library_name="hubmem", ...)`` sends, less the torch version and the agent lookup."""
    parts = [f"hubmem/{__version__}", f"hf_hub/{hf_hub_version}", f"python/{platform.python_version()}"]
    if extra:
        parts.append(extra)
    origin = getattr(hf_constants, "HF_HUB_USER_AGENT_ORIGIN", None)
    if origin:
        parts.append(f"origin/{origin}")
    return "; ".join(dict.fromkeys(p.strip() for p in "; ".join(parts).split(";")))


def ssl_context(*, trust_env: bool = True, http2: bool = False) -> ssl.SSLContext:
    """The process's SSL context for these settings (building one costs 20-30 ms: certifi's bundle)."""
    env = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")) if trust_env else (None, None)
    # httpcore2 writes the ALPN protocols into the context at each connect: one context per http2 setting
    return _ssl_context(trust_env, http2, env)


@functools.cache
def _ssl_context(trust_env: bool, http2: bool, env: tuple[str | None, str | None]) -> ssl.SSLContext:
    return httpx2.create_ssl_context(trust_env=trust_env)


def pool_size(max_connections: int) -> int:
    """Connections of a pool for ``max_connections`` concurrent requests: at most :data:`MAX_POOL`."""
    return max(1, min(max_connections, MAX_POOL))


def connection_pool(
    max_connections: int,
    timeout: float | httpx2.Timeout,
    *,
    http2: bool | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
    headers: Mapping[str, str] | None = None,
    isolated: bool = False,
) -> httpx2.AsyncClient:
    """A pool (all connections kept alive) that never follows redirects: HubClient does, deciding per hop
    whether the token goes along. ``isolated`` is for a pool that serves several callers (the service): a
    cookie jar that stores nothing, no proxies or .netrc credentials from the environment, and exactly
    ``max_connections`` connections; a client's own pool has :func:`pool_size` of them."""
    size = max(1, max_connections) if isolated else pool_size(max_connections)
    h2 = http2_available() if http2 is None else http2
    limits = httpx2.Limits(max_connections=size, max_keepalive_connections=size)
    if transport is None:  # what httpx2 builds itself, with the cheap readability check
        verify = ssl_context(trust_env=not isolated, http2=h2)
        transport = httpx2.AsyncHTTPTransport(verify=verify, http2=h2, limits=limits, trust_env=not isolated)
        cheap_readability(transport)
    return httpx2.AsyncClient(
        transport=transport,
        http2=h2,
        verify=ssl_context(trust_env=not isolated, http2=h2),
        timeout=timeout if isinstance(timeout, httpx2.Timeout) else httpx2.Timeout(timeout),
        limits=limits,
        follow_redirects=False,
        headers=headers,
        cookies=httpx2.Cookies(CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])))
        if isolated
        else None,
        trust_env=not isolated,
    )


# -- the pool's readability check ------------------------------------------------------------------------


def cheap_readability(transport: httpx2.AsyncHTTPTransport) -> bool:
    """Give ``transport``'s connections :class:`Stream` s (whether it did: httpx2's internals may change)."""
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if not isinstance(pool, httpcore2.AsyncConnectionPool) or not isinstance(
        backend, httpcore2.AsyncNetworkBackend
    ):
        return False
    if not isinstance(backend, Backend):
        pool._network_backend = Backend(backend)
    return True


class Stream(httpcore2.AsyncNetworkStream):
    """A connection's stream with its socket looked up once. At every request, httpcore2 asks each idle
    connection of the pool whether its socket is readable (closed by the server); anyio answers that by
    building the mapping of every socket attribute, a ``getpeername()`` call included, each time: about ten
    times the cost of the poll itself, for 16 connections, twice per request."""

    def __init__(self, inner: httpcore2.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore2.AsyncNetworkStream:
        return Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._socket is not None:
            return is_socket_readable(self._socket)  # httpcore2's own poll, without anyio's lookups
        return self._inner.get_extra_info(info)


class Backend(httpcore2.AsyncNetworkBackend):
    """httpcore2's backend, its streams wrapped in :class:`Stream`."""

    def __init__(self, inner: httpcore2.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        return Stream(await self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore2.AsyncNetworkStream:
        return Stream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
