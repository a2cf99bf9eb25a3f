"""HTTP handlers. Every error leaves as JSON (``statuses.error_body``) with the status from one table."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import msgspec
from aiohttp import web

from hubmem._version import __version__
from hubmem.errors import (
    HubmemError,
    InternalError,
    InvalidOptionsError,
    InvalidRequestError,
    PayloadTooLargeError,
    RequestTimeoutError,
)
from hubmem.fetch.http.answers import redact
from hubmem.fetch.ids import validate_repo_id
from hubmem.formats.json_reader import load_json
from hubmem.schema.options import Options
from hubmem.service.auth import Caller, TokenHasher, caller_from_header
from hubmem.service.core import Core, Kind
from hubmem.service.metrics import CONTENT_TYPE, Counter, Histogram, Registry
from hubmem.service.openapi import openapi_document
from hubmem.service.params import parse_options
from hubmem.service.settings import Settings
from hubmem.service.statuses import error_body, retry_after_seconds, status_for

log = logging.getLogger("hubmem.service")


class HttpMetrics(msgspec.Struct, frozen=True):
    requests: Counter
    seconds: Histogram

    @classmethod
    def register(cls, registry: Registry) -> HttpMetrics:
        return cls(
            registry.counter("hubmem_http_requests_total", "HTTP requests by route, method and status."),
            registry.histogram("hubmem_http_request_seconds", "HTTP request duration by route."),
        )


CORE = web.AppKey("core", Core)
SETTINGS = web.AppKey("settings", Settings)
HASHER = web.AppKey("hasher", TokenHasher)
REGISTRY = web.AppKey("registry", Registry)
HTTP_METRICS = web.AppKey("http_metrics", HttpMetrics)
CALLER = "hubmem.caller"

JSON_TYPE = "application/json"
NDJSON_TYPE = "application/x-ndjson"
NO_STORE = "no-store"


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(data, separators=(",", ":")).encode(),
        status=status,
        content_type=JSON_TYPE,
        headers=headers,
    )


def error_response(exc: HubmemError, *, settings: Settings, sent_token: bool) -> web.Response:
    status = status_for(exc, sent_token=sent_token)
    headers = {"Cache-Control": NO_STORE}
    if status == 429:
        headers["Retry-After"] = str(retry_after_seconds(exc, settings))
    if status == 401:
        headers["WWW-Authenticate"] = (
            'Bearer realm="hubmem", error="invalid_token"' if sent_token else "Bearer"
        )
    return _json(error_body(exc, status), status=status, headers=headers)


_HTTP_KINDS = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def _route_name(request: web.Request) -> str:
    info = request.match_info.route.resource
    return info.canonical if info is not None else "unmatched"


@web.middleware
async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Errors -> JSON, request metrics, security headers. Never logs headers (tokens)."""
    started = time.perf_counter()
    settings = request.app[SETTINGS]
    try:
        response: web.StreamResponse = await handler(request)
    except HubmemError as exc:
        response = error_response(exc, settings=settings, sent_token="Authorization" in request.headers)
        log.info("%s %s -> %d %s", request.method, request.path, response.status, exc.kind)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = _http_error(request, exc, settings)
    except asyncio.CancelledError:
        raise
    except Exception:
        # the traceback goes to the server log (no headers in it), never to the client
        log.exception("internal error on %s %s", request.method, request.path)
        response = error_response(
            InternalError("Internal server error."), settings=settings, sent_token=False
        )
    route = _route_name(request)
    http = request.app[HTTP_METRICS]
    http.requests.inc(route=route, method=request.method, status=str(response.status))
    http.seconds.observe(time.perf_counter() - started, route=route)
    if not response.prepared:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def _http_error(request: web.Request, exc: web.HTTPException, settings: Settings) -> web.Response:
    """aiohttp's own 4xx/5xx (no route, wrong method, body too large ...) as our JSON error body."""
    kind = _HTTP_KINDS.get(exc.status, "http_error")
    message = exc.reason if exc.status != 404 else f"No route {request.method} {request.path}"
    if exc.status == 413:
        message = f"The request body is larger than {settings.client_max_size} bytes."
    body = {"error": {"kind": kind, "message": message, "status": exc.status}}
    headers = {"Cache-Control": NO_STORE}
    if exc.status == 405 and "Allow" in exc.headers:
        headers["Allow"] = exc.headers["Allow"]
    return _json(body, status=exc.status, headers=headers)


def caller_of(request: web.Request) -> Caller:
    """The caller's credentials; more than one ``Authorization`` header is refused, never guessed between."""
    if len(request.headers.getall("Authorization", [])) > 1:
        raise InvalidRequestError("Send at most one Authorization header.")
    return caller_from_header(
        request.headers.get("Authorization"),
        hasher=request.app[HASHER],
        server_token=request.app[SETTINGS].server_token,
    )


def _repo_from_match(request: web.Request) -> str:
    org = request.match_info.get("org")
    name = request.match_info["name"]
    return validate_repo_id(f"{org}/{name}" if org else name)


def _options(request: web.Request) -> Options:
    query = request.rel_url.query
    return parse_options({k: query.getall(k) for k in query})


def _result_headers(caller: Caller, cache: str, commit: str) -> dict[str, str]:
    headers = {
        "X-Hubmem-Cache": cache,
        # results can depend on the caller's token: no shared HTTP cache may store them
        "Cache-Control": "private, no-cache",
        "Vary": "Authorization",
    }
    if commit:
        headers["X-Hubmem-Commit"] = commit
    return headers


async def _model(request: web.Request, kind: Kind) -> web.Response:
    repo_id = _repo_from_match(request)
    options = _options(request)
    caller = caller_of(request)
    outcome = await request.app[CORE].get(kind, repo_id, options, caller)
    return web.Response(
        body=outcome.body,
        content_type=JSON_TYPE,
        headers=_result_headers(caller, outcome.cache, outcome.commit),
    )


async def get_model(request: web.Request) -> web.Response:
    return await _model(request, "report")


CHECK_PARAMS = ("revision", "subfolder")


async def get_check(request: web.Request) -> web.Response:
    extra = sorted(k for k in request.rel_url.query if k not in CHECK_PARAMS)
    if extra:  # the cross-check depends on the checkpoint only, as `hubmem check` takes only these two
        raise InvalidOptionsError(
            f"/check takes only revision and subfolder (got {', '.join(extra)})",
            errors=[{"param": k, "message": "not a /check parameter"} for k in extra],
        )
    return await _model(request, "check")


async def scan(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    options = _options(request)
    caller = caller_of(request)
    try:  # bounded by client_max_size (413) and body_timeout (408)
        async with asyncio.timeout(settings.body_timeout):
            raw = await request.read()
    except TimeoutError:
        raise RequestTimeoutError(f"The body did not arrive within {settings.body_timeout:g} s.") from None
    try:  # a list of ids, or {"repo_ids": [...]}: two levels at most
        data = load_json(raw or b"null", max_bytes=settings.client_max_size, max_depth=2)
    except ValueError as exc:
        raise InvalidRequestError(f"The body must be JSON: a list of repo ids ({exc}).") from None
    if isinstance(data, dict) and set(data) == {"repo_ids"}:
        data = data["repo_ids"]
    if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
        raise InvalidOptionsError('The body must be a JSON list of repo ids, e.g. ["org/name", "gpt2"].')
    if len(data) > settings.scan_max_repos:
        raise PayloadTooLargeError(
            f"At most {settings.scan_max_repos} repo ids per scan (got {len(data)}).",
            hint="Split the list into several scans.",
        )
    core = request.app[CORE]
    sem = asyncio.Semaphore(settings.scan_concurrency)

    async def one(repo_id: str) -> bytes:
        async with sem:
            return await _scan_row(core, repo_id, options, caller, settings)

    response = web.StreamResponse(
        headers={"Content-Type": NDJSON_TYPE, "Cache-Control": "private, no-cache", "Vary": "Authorization"}
    )
    response.enable_chunked_encoding()
    await response.prepare(request)
    tasks = [asyncio.ensure_future(one(r)) for r in data]
    try:
        for next_done in asyncio.as_completed(tasks):
            await response.write(await next_done)
        await response.write_eof()
    except ConnectionError:
        log.info("scan client went away after some rows")  # the shared analyses still finish into the cache
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return response


async def _scan_row(core: Core, repo_id: str, options: Options, caller: Caller, settings: Settings) -> bytes:
    head = b'{"repo_id":' + json.dumps(repo_id).encode()
    try:
        validate_repo_id(repo_id)
        outcome = await core.get("report", repo_id, options, caller)
    except HubmemError as exc:
        status = status_for(exc, sent_token=caller.sent_token)
        row: dict[str, Any] = {"repo_id": repo_id, "ok": False, "status": status, **error_body(exc, status)}
        if status == 429:
            row["retry_after"] = retry_after_seconds(exc, settings)
        return json.dumps(row, separators=(",", ":")).encode() + b"\n"
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("internal error scanning %s", repo_id)
        internal = InternalError("Internal server error.")
        row = {"repo_id": repo_id, "ok": False, "status": 500, **error_body(internal, 500)}
        return json.dumps(row, separators=(",", ":")).encode() + b"\n"
    return (
        head
        + b',"ok":true,"status":200,"cache":"'
        + outcome.cache.encode()
        + b'","report":'
        + outcome.body
        + b"}\n"
    )


async def healthz(request: web.Request) -> web.Response:
    core = request.app[CORE]
    return _json(
        {
            "status": "ok",
            "version": __version__,
            "endpoint": redact(core.endpoint),
            "cache": core.cache_stats(),
        }
    )


async def metrics(request: web.Request) -> web.Response:
    body = request.app[REGISTRY].render()
    return web.Response(body=body.encode(), headers={"Content-Type": CONTENT_TYPE})


async def openapi(request: web.Request) -> web.Response:
    return _json(openapi_document())


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/healthz", healthz, name="healthz")
    r.add_get("/metrics", metrics, name="metrics")
    r.add_get("/openapi.json", openapi, name="openapi")
    # /check first: "/v1/models/{name}/check" is the check of a single-segment repo, not a repo "{name}/check"
    r.add_get("/v1/models/{org}/{name}/check", get_check, name="check_ns")
    r.add_get("/v1/models/{name}/check", get_check, name="check")
    r.add_get("/v1/models/{org}/{name}", get_model, name="model_ns")
    r.add_get("/v1/models/{name}", get_model, name="model")
    r.add_post("/v1/scan", scan, name="scan")
