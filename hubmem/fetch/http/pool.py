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
from collections.abc import Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx2
from huggingface_hub import __version__ as hf_hub_version
from huggingface_hub import constants as hf_constants

from hubmem._version import __version__

MAX_POOL = 16  # connections a pool keeps, whatever the concurrency (httpcore2 scans its pool per request)


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
    return httpx2.AsyncClient(
        transport=transport,
        http2=h2,
        verify=ssl_context(trust_env=not isolated, http2=h2),
        timeout=timeout if isinstance(timeout, httpx2.Timeout) else httpx2.Timeout(timeout),
        limits=httpx2.Limits(max_connections=size, max_keepalive_connections=size),
        follow_redirects=False,
        headers=headers,
        cookies=httpx2.Cookies(CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])))
        if isolated
        else None,
        trust_env=not isolated,
    )
