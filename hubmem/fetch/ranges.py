"""Range reads of safetensors headers.

:func:`read_header` sends ``Range`` with ``Accept-Encoding: identity``, checks for 206 +
``Content-Range``, and streams the body: the u64 length is checked after the first 8 bytes
(N > 25,000,000 is refused without reading further) and, when a server ignores ``Range`` (200), the
stream is closed as soon as ``8 + N`` bytes are in, so weights are never downloaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from hubmem.errors import CorruptHeaderError, NetworkError
from hubmem.fetch.http.response import HubResponse, int_or_none
from hubmem.fetch.http.trace import Trace
from hubmem.formats.safetensors import MAX_HEADER_LENGTH, decode_header, read_header_length

if TYPE_CHECKING:
    from hubmem.fetch.http.client import HubClient

DEFAULT_FIRST_READ = 100_000  # bytes of the first range read when nothing better is known
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.I)


@dataclass(frozen=True)
class HeaderRead:
    """A safetensors header read with range requests."""

    path: str
    header_length: int
    header: dict[str, Any]
    size: int | None  # real file size (X-Linked-Size, Content-Range total, or Content-Length of a 200)
    commit: str | None  # X-Repo-Commit of the resolve request


def parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """``bytes a-b/total`` -> (a, b, total or None)."""
    if not value:
        return None
    m = _CONTENT_RANGE.match(value)
    if not m:
        return None
    total = None if m.group(3) == "*" else int(m.group(3))
    return int(m.group(1)), int(m.group(2)), total


async def read_header(
    hub: HubClient,
    url: str,
    *,
    path: str,
    first_bytes: int = DEFAULT_FIRST_READ,
    trace: Trace | None = None,
    repo_id: str | None = None,
    revision: str | None = None,
) -> HeaderRead:
    """Read one safetensors header: a range read of ``first_bytes``, a second one only if
    ``8 + N`` exceeds what arrived. N is checked as soon as 8 bytes are in."""
    trace = trace if trace is not None else Trace()
    first_bytes = max(8, min(int(first_bytes), 8 + MAX_HEADER_LENGTH))
    total: list[int | None] = [None]

    async def first_reader(response: httpx.Response) -> bytes:
        limit: int | None
        if response.status_code == 206:
            span = parse_content_range(response.headers.get("content-range"))
            if span is None or span[0] != 0:
                raise NetworkError(
                    f"{repo_id}: {path}: 206 with an unusable Content-Range "
                    f"{response.headers.get('content-range')!r}",
                    repo_id=repo_id,
                )
            total[0] = span[2]
            limit = min(first_bytes, span[1] - span[0] + 1)
        elif response.status_code == 200:  # Range ignored: stop after the header
            if "content-encoding" not in response.headers:
                total[0] = int_or_none(response.headers.get("content-length"))
            limit = None
        else:
            raise NetworkError(
                f"{repo_id}: {path}: unexpected status {response.status_code} for a range read"
            )
        buf = bytearray()
        n: int | None = None
        async for chunk in response.aiter_bytes():
            buf += chunk
            if n is None and len(buf) >= 8:
                n = read_header_length(bytes(buf[:8]), file=path)  # refuses N > 25,000,000 here
                if limit is None:
                    limit = 8 + n
            if limit is not None and len(buf) >= limit:
                break
        if limit is not None:
            del buf[limit:]
        return bytes(buf)

    headers = {"Range": f"bytes=0-{first_bytes - 1}", "Accept-Encoding": "identity"}
    response = await hub.request(
        "GET",
        url,
        headers=headers,
        trace=trace,
        reader=first_reader,
        repo_id=repo_id,
        path=path,
        revision=revision,
    )
    if response.status == 416:
        raise CorruptHeaderError(f"{path}: the file is empty (416 Range Not Satisfiable)", repo_id=repo_id)
    if response.status >= 400:
        raise hub.error(response, repo_id=repo_id, path=path, revision=revision)
    data = response.content
    n = read_header_length(data[:8], file=path)
    end = 8 + n
    size = response.linked_size or total[0]
    if size is not None and size < end:
        raise CorruptHeaderError(
            f"{path}: header length {n:,} needs {end:,} bytes but the file has {size:,}", repo_id=repo_id
        )
    if len(data) < end:
        data += await read_span(hub, response, url, len(data), end, trace=trace, repo_id=repo_id, path=path)
    if len(data) < end:
        raise CorruptHeaderError(f"{path}: file ends inside the {n:,}-byte header", repo_id=repo_id)
    header = decode_header(data[8:end], file=path)
    return HeaderRead(path=path, header_length=n, header=header, size=size, commit=response.commit)


async def read_span(
    hub: HubClient,
    first: HubResponse,
    url: str,
    start: int,
    end: int,
    *,
    trace: Trace,
    repo_id: str | None,
    path: str,
) -> bytes:
    """Bytes [start, end) of the file. Goes straight to the URL the first read ended at (the
    signed CDN URL, no token) and falls back to the resolve URL if that one is refused."""

    async def reader(response: httpx.Response) -> bytes:
        skip = 0
        if response.status_code == 206:
            span = parse_content_range(response.headers.get("content-range"))
            if span is None or span[0] != start:
                raise NetworkError(
                    f"{repo_id}: {path}: 206 with Content-Range "
                    f"{response.headers.get('content-range')!r}, expected start {start}",
                    repo_id=repo_id,
                )
        elif response.status_code == 200:  # Range ignored: skip what we already have
            skip = start
        else:
            raise NetworkError(
                f"{repo_id}: {path}: unexpected status {response.status_code} for a range read"
            )
        want = skip + end - start
        buf = bytearray()
        async for chunk in response.aiter_bytes():
            buf += chunk
            if len(buf) >= want:
                break
        return bytes(buf[skip:want])

    headers = {"Range": f"bytes={start}-{end - 1}", "Accept-Encoding": "identity"}
    candidates = [first.url, url] if first.url != url else [url]
    response: HubResponse | None = None
    for candidate in candidates:
        response = await hub.request(
            "GET", candidate, headers=headers, trace=trace, reader=reader, repo_id=repo_id, path=path
        )
        if response.status < 400:
            return response.content
    assert response is not None
    raise hub.error(response, repo_id=repo_id, path=path)
