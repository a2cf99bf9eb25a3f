"""FakeHub: two aiohttp origins (Hub + CDN) over one fixture store, with a request log and fault injection."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from hubmem.fakehub.context import CTX, Context, HubOptions, RegularRedirect
from hubmem.fakehub.faults import Decision, FaultConfig, FaultInjector
from hubmem.fakehub.fixtures.layout import default_fixtures_dir
from hubmem.fakehub.fixtures.store import FixtureStore
from hubmem.fakehub.handlers import api, cdn, resolve
from hubmem.fakehub.handlers.auth import authenticate, repo_not_found
from hubmem.fakehub.handlers.http import HubError, json_response, request_id, state, text_response
from hubmem.fakehub.log import LogEntry, RequestLog
from hubmem.fakehub.routing import Route, parse_route

log = logging.getLogger("hubmem.fakehub")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def hub_handler(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    route: Route | HubError = state(request).route
    if isinstance(route, HubError):
        raise route
    kind, method = route.kind, request.method
    if kind == "paths_info":
        if method != "POST":
            raise HubError(405, "Method not allowed")
        return await api.paths_info(request, ctx, route)
    if method not in ("GET", "HEAD"):
        raise HubError(405, "Method not allowed")
    if kind in ("resolve", "raw"):
        return await resolve.resolve(request, ctx, route)
    if kind == "resolve_cache":
        return await resolve.resolve_cache(request, ctx, route)
    if kind == "model_info":
        return api.model_info(request, ctx, route)
    if kind == "tree":
        return api.tree(request, ctx, route)
    if kind == "refs":
        return api.refs(request, ctx, route)
    if kind == "st_metadata":
        return api.safetensors_metadata(request, ctx, route)
    if kind == "whoami":
        return api.whoami(request, ctx)
    if kind == "other_type":  # only models are stored: every dataset/space is "not found"
        raise repo_not_found(authenticate(request, ctx.store))
    raise HubError(404, "Not Found")


def _fault_response(origin: str, d: Decision, faults: FaultInjector) -> web.Response:
    if d.kind == "429":
        msg = f"You have exceeded the rate limit for '{d.bucket}' requests. Retry after {d.reset} seconds."
        return json_response(
            {"error": msg},
            status=429,
            etag=False,
            headers={
                "RateLimit": f'"{d.bucket}";r=0;t={d.reset}',
                "RateLimit-Policy": faults.policy(d.bucket),
                "Retry-After": str(d.reset),
                "X-Error-Message": msg,
            },
        )
    if origin == "cdn":
        return web.Response(status=d.status, text=f"{d.status} injected CDN error", content_type="text/plain")
    if d.status == 500:
        return json_response(
            {"error": "Internal Error - We're working hard to fix this as soon as possible!"}, status=500
        )
    return text_response(
        f"{d.status} {'Bad Gateway' if d.status == 502 else 'Service Unavailable'}", status=d.status
    )


def _body_size(request: web.Request, resp: web.StreamResponse) -> int:
    if request.method == "HEAD":
        return 0
    if isinstance(resp, web.Response):
        body = resp.body
        return len(body) if isinstance(body, bytes | bytearray) else 0
    return state(request).bytes_sent


class _Recorder:
    """Writes the request's log entry. Streamed bodies log *before* the body goes out (a client may see the
    whole response before the handler returns); the entry is replaced if the outcome turns out different."""

    def __init__(self, ctx: Context, request: web.Request, origin: str, bucket: str) -> None:
        self.ctx, self.request, self.origin, self.bucket = ctx, request, origin, bucket
        self.t0, self.wall = time.monotonic(), time.time()
        self.fault: str | None = None
        self.entry: LogEntry | None = None

    def record(self, status: int, nbytes: int) -> None:
        r = self.request
        if self.entry is not None and (self.entry.status, self.entry.bytes_sent) == (status, nbytes):
            return
        entry = LogEntry(
            time=self.wall,
            origin=self.origin,
            method=r.method,
            path=r.rel_url.raw_path,
            query=r.rel_url.raw_query_string,
            range=r.headers.get("Range"),
            auth="Authorization" in r.headers,
            status=status,
            bytes_sent=nbytes,
            bucket=self.bucket,
            fault=self.fault,
            duration=time.monotonic() - self.t0,
        )
        if self.entry is None:
            self.ctx.log.add(entry)
        else:
            self.ctx.log.replace(self.entry, entry)
        self.entry = entry
        log.debug("fakehub %s %s %s -> %d (%d B%s)", self.origin, r.method, entry.url_path, status, nbytes,
                  f", {self.fault}" if self.fault else "")  # fmt: skip


def make_middleware(origin: str) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        ctx = request.app[CTX]
        raw, query = request.rel_url.raw_path, request.rel_url.raw_query_string
        bucket = "cdn"
        st = state(request)
        if origin == "hub":
            try:
                parsed = parse_route(raw)
                st.route, bucket = parsed, parsed.bucket
            except HubError as exc:
                st.route, bucket = exc, "api" if raw.startswith("/api/") else "resolvers"
        rec = _Recorder(ctx, request, origin, bucket)
        st.record = rec.record
        status = 0
        resp: web.StreamResponse | None = None
        try:
            latency = ctx.faults.latency_for(origin)
            if latency > 0:
                await asyncio.sleep(latency)
            d = ctx.faults.decide(origin, bucket, f"{raw}?{query}" if query else raw)
            headers: dict[str, str] = {}
            if origin == "hub":
                headers["X-Request-Id"] = request_id(request)
                if d.kind != "429" and bucket in ctx.faults.config.quota:
                    headers["RateLimit"] = f'"{bucket}";r={max(1, d.remaining)};t={d.reset}'
                    headers["RateLimit-Policy"] = ctx.faults.policy(bucket)
            st.headers = headers
            if d.kind == "drop":
                rec.fault = "drop"
                if request.transport is not None:
                    request.transport.close()
                return web.Response(status=500)
            if d.kind in ("429", "error"):
                rec.fault = str(d.status)
                resp = _fault_response(origin, d, ctx.faults)
            else:
                if d.slow:
                    rec.fault = "slow"
                    st.slow = True
                if d.truncate:
                    rec.fault = "truncate"
                    st.truncate = True
                try:
                    resp = await handler(request)
                except HubError as exc:
                    resp = exc.response()
            status = resp.status
            return resp
        except (ConnectionError, asyncio.CancelledError):
            status = 0 if resp is None else resp.status
            raise
        except Exception:
            log.exception("fakehub: unhandled error on %s %s", request.method, raw)
            status = 500
            resp = json_response({"error": "Internal Error (fakehub bug)"}, status=500)
            return resp
        finally:
            rec.record(status, _body_size(request, resp) if resp is not None else st.bytes_sent)

    return middleware


async def _add_common_headers(request: web.Request, response: web.StreamResponse) -> None:
    for k, v in state(request).headers.items():
        response.headers.setdefault(k, v)


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
    ) -> None:
        self.fixtures_dir = Path(fixtures_dir) if fixtures_dir is not None else default_fixtures_dir()
        config = faults or FaultConfig()
        overrides: dict[str, Any] = {k: v for k, v in (("latency", latency), ("seed", seed)) if v is not None}
        self.faults = FaultInjector(dataclasses.replace(config, **overrides))
        self.store = FixtureStore(self.fixtures_dir)
        self.log = RequestLog()
        self.options = HubOptions(regular_redirect, tree_page_size, tree_expand_page_size, url_ttl)
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
        app.on_response_prepare.append(_add_common_headers)
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
