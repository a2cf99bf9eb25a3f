"""Shared HTTP pieces: the Hub's error shape, request ids, JSON responses, Range parsing, body streaming."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hubmem.fakehub.fixtures.vfile import CHUNK, VirtualFile

EXPOSE = (
    "X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,X-Total-Count,ETag,Link,Accept-Ranges,"
    "Content-Range,X-Linked-Size,X-Linked-ETag"
)
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
DISABLED = "Access to this resource is disabled."


@dataclass
class RequestState:
    """Per-request scratch space shared by the middleware and the handlers."""

    route: Any = None  # routing.Route, or the HubError raised while routing
    headers: dict[str, str] = field(default_factory=dict)  # added to whatever response goes out
    slow: bool = False  # write the body slowly (fault injection)
    truncate: bool = False  # send half the body, then close the connection (fault injection)
    bytes_sent: int = 0  # body bytes written by streamed responses
    record: Callable[[int, int], None] | None = None  # log (status, body bytes) now, before the body


STATE = web.RequestKey("hubmem_fakehub_state", RequestState)


def state(request: web.Request) -> RequestState:
    st = request.get(STATE)
    if st is None:
        st = request[STATE] = RequestState()
    return st


@dataclass
class HubError(Exception):
    """An error answered the way the Hub does: X-Error-Code, X-Error-Message, JSON {"error": ...}."""

    status: int
    message: str
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> web.Response:
        headers = {"X-Error-Message": self.message, **self.headers}
        if self.code:
            headers["X-Error-Code"] = self.code
        return json_response({"error": self.message}, status=self.status, headers=headers, etag=False)


def request_id(request: web.Request) -> str:
    rid = f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}"
    trace = request.headers.get("X-Amzn-Trace-Id")
    return f"{rid};{trace}" if trace else rid


def weak_etag(body: bytes) -> str:
    return f'W/"{len(body):x}-{hashlib.sha1(body).hexdigest()[:27]}"'


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None, etag: bool = True
) -> web.Response:
    body = json.dumps(data, separators=(",", ":")).encode()
    h = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    if etag:
        h.setdefault("ETag", weak_etag(body))
    return web.Response(status=status, body=body, headers=h)


def text_response(text: str, *, status: int, headers: dict[str, str] | None = None) -> web.Response:
    body = text.encode()
    h = {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}
    return web.Response(status=status, body=body, headers=h)


_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


class Unsatisfiable(Exception):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Range header -> [start, stop) clamped to the size, or None to serve the whole body (absent,
    malformed or multi-range headers are ignored, as RFC 9110 allows). Raises Unsatisfiable (416)."""
    if not header:
        return None
    m = _RANGE.match(header)
    if m is None:
        return None
    first, last = m.group(1), m.group(2)
    if first == "" and last == "":
        return None
    if first == "":  # suffix range: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - n), size
    start = int(first)
    if last != "" and int(last) < start:
        return None  # invalid range spec: ignored
    if start >= size:
        raise Unsatisfiable
    stop = size if last == "" else min(int(last) + 1, size)
    return start, stop


def unsatisfiable(size: int, headers: dict[str, str] | None = None) -> web.Response:
    return text_response(
        "Requested Range Not Satisfiable",
        status=416,
        headers={"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes", **(headers or {})},
    )


async def stream_file(
    request: web.Request,
    content: VirtualFile,
    *,
    headers: dict[str, str],
    slow_delay: float = 0.0,
    slow_chunk: int = 16384,
) -> web.StreamResponse:
    """Serve ``content`` honouring Range (206/416) and HEAD; never materialises more than a chunk."""
    size = content.size
    try:
        rng = parse_range(request.headers.get("Range"), size)
    except Unsatisfiable:
        return unsatisfiable(size, headers)
    start, stop = rng if rng is not None else (0, size)
    resp = web.StreamResponse(status=206 if rng is not None else 200, headers=headers)
    resp.headers["Accept-Ranges"] = "bytes"
    if rng is not None:
        resp.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    resp.content_length = stop - start
    st = state(request)
    if st.record is not None:
        st.record(resp.status, 0 if request.method == "HEAD" else stop - start)
    await resp.prepare(request)
    if st.truncate:
        stop = start + (stop - start) // 2
    if request.method != "HEAD":
        st.bytes_sent = 0
        await _write_body(request, resp, content, (start, stop), slow_delay, slow_chunk)
    return resp


async def _write_body(
    request: web.Request,
    resp: web.StreamResponse,
    content: VirtualFile,
    span: tuple[int, int],
    slow_delay: float,
    slow_chunk: int,
) -> None:
    """Write bytes [start, stop) (slowly, or truncated, as the faults say); ``state.bytes_sent`` counts them.
    A client that stops reading (a header reader that has what it needs) ends the response quietly."""
    st = state(request)
    chunk = slow_chunk if slow_delay > 0 else CHUNK
    try:
        for piece in content.iter_range(*span, chunk):
            await resp.write(piece)
            st.bytes_sent += len(piece)
            if slow_delay > 0:
                await asyncio.sleep(slow_delay)
        if st.truncate and request.transport is not None:
            request.transport.close()
            return
        await resp.write_eof()
    except ConnectionError:
        return
