"""The httpx connection pool under HubClient, and under the service's pool shared by its callers."""

from __future__ import annotations

from collections.abc import Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx


def http2_available() -> bool:
    """Whether ``h2`` is installed (httpx then speaks HTTP/2 to servers that offer it)."""
    try:
        import h2  # noqa: F401
    except ImportError:
        return False
    return True


def connection_pool(
    max_connections: int,
    timeout: float | httpx.Timeout,
    *,
    http2: bool | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    headers: Mapping[str, str] | None = None,
    isolated: bool = False,
) -> httpx.AsyncClient:
    """A pool of ``max_connections`` (all kept alive) that never follows redirects: HubClient does,
    deciding per hop whether the token goes along. ``isolated`` is for a pool that serves several
    callers: a cookie jar that stores nothing, and no proxies or .netrc credentials from the environment."""
    size = max(1, max_connections)
    return httpx.AsyncClient(
        transport=transport,
        http2=http2_available() if http2 is None else http2,
        timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
        limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
        follow_redirects=False,
        headers=headers,
        cookies=httpx.Cookies(CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])))
        if isolated
        else None,
        trust_env=not isolated,
    )
