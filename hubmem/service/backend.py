"""What the service asks of the core: analyse a repo (and, cheaply, resolve a revision).

``HubBackend`` is the real one: hubmem.fetch + hubmem.pipeline.build_report, i.e. exactly the code
path of ``hubmem REPO --json``. Tests may inject any object with the same methods.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

import httpx

from ..schema.check import CheckReport
from ..schema.options import Options
from ..schema.report import Report
from .errors import NotImplementedYetError

if TYPE_CHECKING:
    from ..fetch import HubClient

_SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class Analysis:
    report: Report
    # True when the Hub says the repo is neither gated nor private (results may be shared by every caller);
    # False or None (unknown) keeps the result private to the credentials that read it
    public: bool | None = None


@dataclass(frozen=True)
class Resolution:
    commit: str
    public: bool | None = None


class Backend(Protocol):
    endpoint: str

    async def analyze(self, repo_id: str, options: Options, token: str | None) -> Analysis: ...

    async def resolve(self, repo_id: str, revision: str, token: str | None) -> Resolution | None:
        """revision -> commit with one cheap request, or None when the backend cannot."""
        ...

    async def check(
        self, repo_id: str, options: Options, token: str | None
    ) -> tuple[CheckReport, Analysis]: ...

    async def aclose(self) -> None: ...


def is_public(hub_info: dict[str, Any] | None) -> bool | None:
    """From the Hub's model info: True only when it says not gated and not private."""
    if not isinstance(hub_info, dict) or "gated" not in hub_info or "private" not in hub_info:
        return None  # both must be stated: a missing "private" proves nothing
    return hub_info["gated"] is False and hub_info["private"] is False


class HubBackend:
    """The real backend: the configured Hub, the caller's token (or none), the pipeline's code path.

    One pooled httpx client is shared by every request (a cookie jar that stores nothing, so nothing
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
    ) -> None:
        from huggingface_hub import constants

        self.endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
        self.request_timeout = request_timeout
        self.max_retries = max_retries
        self.max_wait = max_wait  # a Retry-After longer than this is passed on to the caller (429)
        self.backoff_base = backoff_base
        self.max_connections = max_connections
        self._http: httpx.AsyncClient | None = None

    def _pool(self) -> httpx.AsyncClient:
        if self._http is None:
            from ..fetch.client import _http2_available

            self._http = httpx.AsyncClient(
                http2=_http2_available(),
                timeout=httpx.Timeout(self.request_timeout),
                limits=httpx.Limits(
                    max_connections=self.max_connections, max_keepalive_connections=self.max_connections
                ),
                follow_redirects=False,
                cookies=httpx.Cookies(CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))),
                trust_env=False,  # no proxies or .netrc credentials picked up from the server's environment
            )
        return self._http

    def _client(self, token: str | None) -> HubClient:
        from ..fetch import HubClient

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

    async def analyze(self, repo_id: str, options: Options, token: str | None) -> Analysis:
        from ..fetch import fetch_snapshot
        from ..pipeline import build_report

        started = time.perf_counter()
        async with self._client(token) as client:
            snapshot = await fetch_snapshot(
                client, repo_id, revision=options.revision, subfolder=options.subfolder
            )
        seconds = time.perf_counter() - started
        # parsing thousands of tensor headers is CPU work: keep the event loop free for cached hits
        report = await asyncio.to_thread(build_report, snapshot, options, seconds=seconds)
        return Analysis(report=report, public=is_public(snapshot.hub_info))

    async def resolve(self, repo_id: str, revision: str, token: str | None) -> Resolution | None:
        """One API request: the commit and visibility, checked with the caller's token."""
        async with self._client(token) as client:
            url = client.api_url(repo_id, "revision", quote(revision, safe=""))
            data, _ = await client.get_json(
                url,
                params=[("expand", "sha"), ("expand", "gated"), ("expand", "private")],
                repo_id=repo_id,
                revision=revision,
            )
        sha = data.get("sha") if isinstance(data, dict) else None
        if not isinstance(sha, str) or not _SHA.match(sha):
            return None
        return Resolution(commit=sha, public=is_public(data))

    async def check(self, repo_id: str, options: Options, token: str | None) -> tuple[CheckReport, Analysis]:
        # TODO(issue #5): wire the cross-check once hubmem's check module exists
        raise NotImplementedYetError(
            "The cross-check (issue #5) is not available in this build.",
            hint="Use GET /v1/models/{repo_id} for the report; /check arrives with issue #5.",
        )

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
