"""Range reads of safetensors headers, on top of any client with HubClient's public ``request`` and
``error`` (this module imports no client: the client calls it).

:func:`read_header` sends ``Range`` with ``Accept-Encoding: identity``, checks for 206 +
``Content-Range``, and streams the body: the u64 length is checked after the first 8 bytes
(N > 25,000,000 is refused without reading further) and, when a server ignores ``Range`` (200), the
stream is closed as soon as ``8 + N`` bytes are in, so weights are never downloaded. A 206 body is read to
its end (it is what was asked for), so the CDN connection stays alive for the next read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Protocol

import httpx2

from hubmem.errors import CorruptHeaderError, HubmemError, NetworkError
from hubmem.fetch.http.response import HubResponse, Reader, int_or_none
from hubmem.fetch.http.trace import Trace
from hubmem.formats.safetensors import MAX_HEADER_LENGTH, read_header_length
from hubmem.formats.safetensors_load import load_header
from hubmem.snapshot import WeightFile

DEFAULT_FIRST_READ = 100_000  # bytes of the first range read when nothing better is known
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.I)


class Requester(Protocol):
    """What the range reads need of a client (HubClient's public API)."""

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        trace: Trace | None = None,
        reader: Reader | None = None,
        repo_id: str | None = None,
        path: str | None = None,
        revision: str | None = None,
    ) -> HubResponse: ...

    def error(
        self,
        response: HubResponse,
        *,
        repo_id: str | None = None,
        path: str | None = None,
        revision: str | None = None,
    ) -> HubmemError: ...


def parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """``bytes a-b/total`` -> (a, b, total or None)."""
    if not value:
        return None
    m = _CONTENT_RANGE.match(value)
    if not m:
        return None
    total = None if m.group(3) == "*" else int(m.group(3))
    return int(m.group(1)), int(m.group(2)), total


def range_headers(start: int, end: int) -> dict[str, str]:
    """Bytes [start, end), unencoded (a compressed body would not be the file's bytes)."""
    return {"Range": f"bytes={start}-{end - 1}", "Accept-Encoding": "identity"}


def _stop(have: int, want: int, whole: bool) -> bool:
    """Whether to stop reading a body once ``have`` bytes are in. A 206 body is the span asked for
    (``whole``): it is read to its end, so that the connection goes back to the pool instead of being
    closed with unread bytes; a 206 longer than that, or a 200 (Range ignored: the weights follow), is
    cut off as soon as ``want`` bytes are in."""
    return have > want if whole else have >= want


class _FirstRead:
    """Reader of the first range read: at most ``first_bytes``, or ``8 + N`` when Range is ignored.
    ``total`` is the file size the answer tells (Content-Range total, Content-Length of a 200)."""

    def __init__(self, first_bytes: int, path: str, repo_id: str | None) -> None:
        self.first_bytes, self.path, self.repo_id = first_bytes, path, repo_id
        self.total: int | None = None

    def _limit(self, response: httpx2.Response) -> int | None:
        if response.status_code == 206:
            span = parse_content_range(response.headers.get("content-range"))
            if span is None or span[0] != 0:
                raise NetworkError(
                    f"{self.repo_id}: {self.path}: 206 with an unusable Content-Range "
                    f"{response.headers.get('content-range')!r}",
                    repo_id=self.repo_id,
                )
            self.total = span[2]
            return min(self.first_bytes, span[1] - span[0] + 1)
        if response.status_code == 200:  # Range ignored: stop after the header
            if "content-encoding" not in response.headers:
                self.total = int_or_none(response.headers.get("content-length"))
            return None
        raise NetworkError(
            f"{self.repo_id}: {self.path}: unexpected status {response.status_code} for a range read"
        )

    async def __call__(self, response: httpx2.Response) -> bytes:
        limit = self._limit(response)
        whole = response.status_code == 206
        buf = bytearray()
        n: int | None = None
        async for chunk in response.aiter_bytes():
            buf += chunk
            if n is None and len(buf) >= 8:
                n = read_header_length(bytes(buf[:8]), file=self.path)  # refuses N > 25,000,000 here
                limit = 8 + n if limit is None else limit
            if limit is not None and _stop(len(buf), limit, whole):
                break
        return bytes(buf[:limit] if limit is not None else buf)


class SpanRead:
    """Reader of bytes [start, end) (skipping what we already have when Range is ignored)."""

    def __init__(self, start: int, end: int, path: str, repo_id: str | None) -> None:
        self.start, self.end, self.path, self.repo_id = start, end, path, repo_id

    def _skip(self, response: httpx2.Response) -> int:
        if response.status_code == 206:
            span = parse_content_range(response.headers.get("content-range"))
            if span is None or span[0] != self.start:
                raise NetworkError(
                    f"{self.repo_id}: {self.path}: 206 with Content-Range "
                    f"{response.headers.get('content-range')!r}, expected start {self.start}",
                    repo_id=self.repo_id,
                )
            return 0
        if response.status_code == 200:  # Range ignored: skip what we already have
            return self.start
        raise NetworkError(
            f"{self.repo_id}: {self.path}: unexpected status {response.status_code} for a range read"
        )

    async def __call__(self, response: httpx2.Response) -> bytes:
        skip = self._skip(response)
        want = skip + self.end - self.start
        whole = response.status_code == 206
        buf = bytearray()
        async for chunk in response.aiter_bytes():
            buf += chunk
            if _stop(len(buf), want, whole):
                break
        return bytes(buf[skip:want])


async def first_read(
    client: Requester,
    url: str,
    end: int,
    reader: Reader,
    trace: Trace,
    *,
    path: str,
    repo_id: str | None,
    revision: str | None,
) -> HubResponse:
    """The first range read of a header, bytes [0, end): the answer, its body read by ``reader``. An empty
    file (416) is a CorruptHeaderError, an error answer its typed error."""
    where = {"repo_id": repo_id, "path": path, "revision": revision}
    response = await client.request(
        "GET", url, headers=range_headers(0, end), trace=trace, reader=reader, **where
    )
    if response.status == 416:
        raise CorruptHeaderError(f"{path}: the file is empty (416 Range Not Satisfiable)", repo_id=repo_id)
    if response.status >= 400:
        raise client.error(response, **where)
    return response


async def read_header(
    client: Requester,
    url: str,
    *,
    path: str,
    first_bytes: int = DEFAULT_FIRST_READ,
    trace: Trace | None = None,
    repo_id: str | None = None,
    revision: str | None = None,
) -> WeightFile:
    """One safetensors header: a range read of ``first_bytes``, a second one only if ``8 + N``
    exceeds what arrived. N is checked as soon as 8 bytes are in. The record's ``commit`` is the
    ``X-Repo-Commit`` the answer carried."""
    trace = trace if trace is not None else Trace()
    first_bytes = max(8, min(int(first_bytes), 8 + MAX_HEADER_LENGTH))
    first = _FirstRead(first_bytes, path, repo_id)
    response = await first_read(
        client, url, first_bytes, first, trace, path=path, repo_id=repo_id, revision=revision
    )
    data = response.content
    n = read_header_length(data[:8], file=path)
    end = 8 + n
    size = response.linked_size or first.total
    if size is not None and size < end:
        raise CorruptHeaderError(
            f"{path}: header length {n:,} needs {end:,} bytes but the file has {size:,}", repo_id=repo_id
        )
    if len(data) < end:
        data += await read_span(client, response, url, SpanRead(len(data), end, path, repo_id), trace)
    if len(data) < end:
        raise CorruptHeaderError(f"{path}: file ends inside the {n:,}-byte header", repo_id=repo_id)
    return WeightFile(path, n, load_header(data[8:end], file=path), size, response.commit)


async def read_span(client: Requester, first: HubResponse, url: str, span: SpanRead, trace: Trace) -> bytes:
    """The bytes of ``span``. Goes straight to the URL the first read ended at (the signed CDN URL,
    no token) and falls back to the resolve URL if that one is refused."""
    where = {"repo_id": span.repo_id, "path": span.path}
    response: HubResponse | None = None
    for candidate in [first.url, url] if first.url != url else [url]:
        response = await client.request(
            "GET", candidate, headers=range_headers(span.start, span.end), trace=trace, reader=span, **where
        )
        if response.status < 400:
            return response.content
    assert response is not None
    raise client.error(response, **where)
