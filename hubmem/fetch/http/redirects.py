"""Redirect following for the HubClient: one HTTP exchange, hop by hop, with the token attached
only to requests whose origin (scheme, host, port) is the endpoint's origin, so the 302 to the CDN
arrives there without ``Authorization``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from hubmem.errors import NetworkError
from hubmem.fetch.http.response import ERROR_BODY_CAP, JSON_BODY_CAP, HubResponse, Redirect, read_capped
from hubmem.fetch.http.trace import Trace

if TYPE_CHECKING:
    from hubmem.fetch.http.client import HubClient

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
_DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int | None]

Reader = Callable[[httpx.Response], Awaitable[bytes]]


def origin(url: httpx.URL) -> Origin:
    return (url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme))


def authorize(request: httpx.Request, token: str | None, endpoint_origin: Origin) -> None:
    """Attach the token when the request goes to the endpoint's origin; strip credentials otherwise."""
    if token is not None and origin(request.url) == endpoint_origin:
        request.headers["authorization"] = f"Bearer {token}"
    else:
        request.headers.pop("authorization", None)
        request.headers.pop("cookie", None)


async def exchange(
    hub: HubClient,
    method: str,
    url: str,
    *,
    params: Any,
    data: Any,
    headers: Mapping[str, str] | None,
    trace: Trace,
    reader: Reader | None,
) -> HubResponse:
    """One exchange of ``hub``, following redirects; returns the final response (errors included)."""
    redirects: list[Redirect] = []
    current = httpx.URL(url)
    for hop in range(MAX_REDIRECTS + 1):
        request = hub._client.build_request(
            method,
            current,
            params=params if hop == 0 else None,
            data=data,
            headers={**hub._headers, **(headers or {})},
        )
        hub._authorize(request)
        hub._count(trace, requests=1)
        async with hub._semaphore:
            # a pause that began while this request queued for a slot holds it too (every
            # request waits during a global pause anyway, so keeping the slot costs nothing)
            await hub._wait_paused()
            response = await hub._client.send(request, stream=True, follow_redirects=False)
            try:
                location = response.headers.get("location")
                if response.status_code in REDIRECT_STATUSES and location:
                    await read_capped(response, ERROR_BODY_CAP, strict=False)
                    redirects.append(Redirect(response.status_code, str(response.url), response.headers))
                    current = response.url.join(location)
                    if response.status_code == 303 or (
                        response.status_code in (301, 302) and method == "POST"
                    ):
                        method, data = "GET", None
                    continue
                if response.status_code >= 400 or reader is None:
                    cap = ERROR_BODY_CAP if response.status_code >= 400 else JSON_BODY_CAP
                    content = await read_capped(response, cap, strict=response.status_code < 400)
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
                hub._count(trace, nbytes=response.num_bytes_downloaded)
    raise NetworkError(f"{url}: more than {MAX_REDIRECTS} redirects")
