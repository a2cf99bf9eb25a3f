"""The middleware of both fake origins: routing (Hub origin), injected latency and faults, the headers every
answer carries, and the request log entry of every request."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from hubmem.fakehub.context import CTX, Context
from hubmem.fakehub.faults import Decision, FaultInjector
from hubmem.fakehub.handlers.http import (
    HubError,
    RequestState,
    json_response,
    request_id,
    state,
    text_response,
)
from hubmem.fakehub.log import LogEntry
from hubmem.fakehub.routing import parse_route

log = logging.getLogger("hubmem.fakehub")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


def _peer(request: web.Request) -> str:
    """``host:port`` of the client's end of the connection ("" when the transport is gone)."""
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else ""


class _Recorder:
    """Writes the request's log entry. Streamed bodies log *before* the body goes out (a client may see the
    whole response before the handler returns); the entry is replaced if the outcome turns out different."""

    def __init__(self, ctx: Context, request: web.Request, origin: str, bucket: str) -> None:
        self.ctx, self.request, self.origin, self.bucket = ctx, request, origin, bucket
        self.t0, self.wall = time.monotonic(), time.time()
        self.peer = _peer(request)
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
            peer=self.peer,
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
        st = state(request)
        rec = _Recorder(ctx, request, origin, _route(origin, request, st))
        st.record = rec.record
        status = 0
        resp: web.StreamResponse | None = None
        try:
            resp = await _answer(origin, request, handler, rec)
            if resp is None:  # a dropped connection: nothing was answered
                return web.Response(status=500)
            status = resp.status
            return resp
        except (ConnectionError, asyncio.CancelledError):
            status = 0 if resp is None else resp.status
            raise
        except Exception:
            log.exception("fakehub: unhandled error on %s %s", request.method, request.rel_url.raw_path)
            status = 500
            resp = json_response({"error": "Internal Error (fakehub bug)"}, status=500)
            return resp
        finally:
            rec.record(status, _body_size(request, resp) if resp is not None else st.bytes_sent)

    return middleware


def _route(origin: str, request: web.Request, st: RequestState) -> str:
    """Route a Hub request into ``st.route`` (the route, or the HubError routing raised); its bucket."""
    if origin != "hub":
        return "cdn"
    raw = request.rel_url.raw_path
    try:
        st.route = parse_route(raw)
    except HubError as exc:
        st.route = exc
        return "api" if raw.startswith("/api/") else "resolvers"
    return str(st.route.bucket)


async def _answer(
    origin: str, request: web.Request, handler: Handler, rec: _Recorder
) -> web.StreamResponse | None:
    """The fault the injector decides on, else the handler's answer (a HubError becomes its response);
    None when the connection was dropped."""
    ctx, st = rec.ctx, state(request)
    latency = ctx.faults.latency_for(origin)
    if latency > 0:
        await asyncio.sleep(latency)
    raw, query = request.rel_url.raw_path, request.rel_url.raw_query_string
    d = ctx.faults.decide(origin, rec.bucket, f"{raw}?{query}" if query else raw)
    st.headers = _origin_headers(origin, request, rec.bucket, d, ctx.faults)
    if d.kind == "drop":
        rec.fault = "drop"
        if request.transport is not None:
            request.transport.close()
        return None
    if d.kind in ("429", "error"):
        rec.fault = str(d.status)
        return _fault_response(origin, d, ctx.faults)
    if d.slow:
        rec.fault = "slow"
        st.slow = True
    if d.truncate:
        rec.fault = "truncate"
        st.truncate = True
    try:
        return await handler(request)
    except HubError as exc:
        return exc.response()


def _origin_headers(
    origin: str, request: web.Request, bucket: str, d: Decision, faults: FaultInjector
) -> dict[str, str]:
    """What every Hub answer carries: a request id and, for a bucket with a quota, its RateLimit."""
    headers: dict[str, str] = {}
    if origin == "hub":
        headers["X-Request-Id"] = request_id(request)
        if d.kind != "429" and bucket in faults.config.quota:
            headers["RateLimit"] = f'"{bucket}";r={max(1, d.remaining)};t={d.reset}'
            headers["RateLimit-Policy"] = faults.policy(bucket)
    return headers


async def add_common_headers(request: web.Request, response: web.StreamResponse) -> None:
    for k, v in state(request).headers.items():
        response.headers.setdefault(k, v)
