"""FakeHub: two aiohttp origins (Hub + CDN) over one fixture store, with a request log and fault injection
(:mod:`hubmem.fakehub.middleware`); ``hub_handler`` dispatches the Hub origin's routes."""

from __future__ import annotations

import dataclasses
import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from hubmem.fakehub.context import CTX, Context, HubOptions, RegularRedirect
from hubmem.fakehub.faults import FaultConfig, FaultInjector
from hubmem.fakehub.fixtures.layout import default_fixtures_dir
from hubmem.fakehub.fixtures.store import FixtureStore
from hubmem.fakehub.handlers import api, cdn, listing, resolve
from hubmem.fakehub.handlers.auth import authenticate, repo_not_found
from hubmem.fakehub.handlers.http import HubError, state
from hubmem.fakehub.log import RequestLog
from hubmem.fakehub.middleware import Handler, add_common_headers, make_middleware
from hubmem.fakehub.routing import Route

log = logging.getLogger("hubmem.fakehub")


async def hub_handler(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    route: Route | HubError = state(request).route
    if isinstance(route, HubError):
        raise route
    if route.kind == "paths_info":
        if request.method != "POST":
            raise HubError(405, "Method not allowed")
        return await api.paths_info(request, ctx, route)
    if request.method not in ("GET", "HEAD"):
        raise HubError(405, "Method not allowed")
    if route.kind in ("resolve", "raw"):
        return await resolve.resolve(request, ctx, route)
    if route.kind == "resolve_cache":
        return await resolve.resolve_cache(request, ctx, route)
    return _api_get(request, ctx, route)


_API_GETS: dict[str, Callable[[web.Request, Context, Route], web.Response]] = {
    "model_list": listing.list_models,
    "agent_harnesses": listing.agent_harnesses,
    "model_info": api.model_info,
    "tree": api.tree,
    "refs": api.refs,
    "st_metadata": api.safetensors_metadata,
}


def _api_get(request: web.Request, ctx: Context, route: Route) -> web.Response:
    handler = _API_GETS.get(route.kind)
    if handler is not None:
        return handler(request, ctx, route)
    if route.kind == "whoami":
        return api.whoami(request, ctx)
    if route.kind == "other_type":  # only models are stored: every dataset/space is "not found"
        raise repo_not_found(authenticate(request, ctx.store))
    raise HubError(404, "Not Found")


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


class FakeHub:
    """A local Hugging Face Hub over ``fixtures_dir``: Hub origin at ``.endpoint``, CDN at ``.cdn_url``.

    >>> async with FakeHub(fixtures, latency=0.05) as hub:
    ...     HfApi(endpoint=hub.endpoint).model_info("org/name")
    """

    def __init__(
        self,
        fixtures_dir: str | Path | None = None,
        *,
        faults: FaultConfig | None = None,
        latency: float | None = None,
        seed: int | None = None,
        regular_redirect: RegularRedirect = "mix",
        tree_page_size: int = 1000,
        tree_expand_page_size: int = 50,
        url_ttl: int = 3600,
        list_page_size: int = 1000,
    ) -> None:
        self.fixtures_dir = Path(fixtures_dir) if fixtures_dir is not None else default_fixtures_dir()
        config = faults or FaultConfig()
        overrides: dict[str, Any] = {k: v for k, v in (("latency", latency), ("seed", seed)) if v is not None}
        self.faults = FaultInjector(dataclasses.replace(config, **overrides))
        self.store = FixtureStore(self.fixtures_dir)
        self.log = RequestLog()
        self.options = HubOptions(
            regular_redirect, tree_page_size, tree_expand_page_size, url_ttl, list_page_size
        )
        self._initial_options = dataclasses.replace(self.options)
        self.ctx = Context(self.store, self.options, self.faults, self.log)
        self.endpoint = ""
        self.cdn_url = ""
        self._runners: list[web.AppRunner] = []

    # -- lifecycle -------------------------------------------------------------------------------------
    def _app(self, origin: str, handler: Handler) -> web.Application:
        app = web.Application(middlewares=[make_middleware(origin)], client_max_size=64 * 1024 * 1024)
        app[CTX] = self.ctx
        app.router.add_route("*", "/{tail:.*}", handler)
        app.on_response_prepare.append(add_common_headers)
        return app

    async def _serve(self, app: web.Application, host: str, port: int) -> int:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        self._runners.append(runner)
        sock = _bind(host, port)
        await web.SockSite(runner, sock).start()
        return int(sock.getsockname()[1])

    async def start(self, host: str = "127.0.0.1", port: int = 0, cdn_port: int = 0) -> FakeHub:
        """Bind both origins (port 0 = a free port) and start serving."""
        url_host = f"[{host}]" if ":" in host else host
        cdn_bound = await self._serve(self._app("cdn", cdn.handle), host, cdn_port)
        self.cdn_url = self.ctx.cdn_url = f"http://{url_host}:{cdn_bound}"
        hub_bound = await self._serve(self._app("hub", hub_handler), host, port)
        self.endpoint = f"http://{url_host}:{hub_bound}"
        log.info("fakehub: %d repos from %s; hub %s, cdn %s", len(self.store.repos), self.fixtures_dir,
                 self.endpoint, self.cdn_url)  # fmt: skip
        return self

    async def stop(self) -> None:
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()

    async def __aenter__(self) -> FakeHub:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- controls --------------------------------------------------------------------------------------
    def set_faults(self, **changes: Any) -> FaultConfig:
        """Change fault settings at runtime (any FaultConfig field), e.g. ``set_faults(error_every=3)``."""
        return self.faults.update(**changes)

    def inject(
        self, kind: str | int, times: int = 1, *, match: str | None = None, origin: str | None = None
    ) -> None:
        """The next ``times`` matching requests get ``kind``: 429, 500, 502, 503, "drop", "slow" or
        "truncate" (streamed file bodies only: headers + half the body, then the connection closes)."""
        self.faults.inject(kind, times, match=match, origin=origin)

    def clear_faults(self) -> None:
        self.faults.clear()

    def reset(self) -> None:
        """Between tests on a shared hub: no faults, empty log, options as constructed."""
        self.faults.clear()
        self.log.reset()
        for f in dataclasses.fields(HubOptions):
            setattr(self.options, f.name, getattr(self._initial_options, f.name))

    @property
    def latency(self) -> float:
        return self.faults.config.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self.faults.update(latency=seconds)

    def reload(self) -> None:
        """Re-read the fixtures directory (e.g. after a test wrote a new repo)."""
        self.store.reload()

    def url(self, repo_id: str, path: str, revision: str = "main") -> str:
        """The resolve URL of a file (same quoting as huggingface_hub.hf_hub_url)."""
        return f"{self.endpoint}/{repo_id}/resolve/{quote(revision, safe='')}/{quote(path)}"
