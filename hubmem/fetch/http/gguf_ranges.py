"""Range reads of a GGUF header (metadata + tensor infos), on any client with HubClient's public ``request``
and ``error`` (like :mod:`hubmem.fetch.http.ranges`, which it shares the span reads with).

A GGUF header has no length field: it ends where the last tensor info ends, and a real one is often several
MB (a 262k-token vocabulary). So the body of each range read is streamed into
:class:`~hubmem.formats.gguf.parser.GGUFParser` as it arrives and the read stops the moment the parser has
the last tensor info: no byte past the end of the tensor infos is consumed, and none is read twice.

* The first read asks for :data:`GGUF_FIRST_READ` bytes (8 MiB: the header of every common vocabulary,
  gemma-3's 262,144 tokens included at 6.5 MB, comes in one read; a smaller header stops the stream early,
  so a short header costs what is in flight when the stream is closed, not 8 MiB).
* While the parser is not done, the next read asks for :meth:`GGUFParser.wanted` more bytes (its estimate
  of what is left, with a margin) from where the last one stopped, straight from the CDN URL the first read
  ended at.
* A server that ignores ``Range`` (200) is read from the start and closed just the same.
"""

from __future__ import annotations

import httpx2

from hubmem.errors import NetworkError
from hubmem.fetch.http.ranges import Requester, SpanRead, first_read, parse_content_range, read_span
from hubmem.fetch.http.response import int_or_none
from hubmem.fetch.http.trace import Trace
from hubmem.formats.gguf.header import GGUFHeader
from hubmem.formats.gguf.parser import GGUFParser
from hubmem.formats.gguf.record import header_record
from hubmem.snapshot import WeightFile

GGUF_FIRST_READ = 8 << 20
DRAIN_MAX = 32 << 10  # bytes of a 206 body past the header read and dropped to keep the connection


class _Parse:
    """The parser of one file, created when the first answer tells the file size."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.parser: GGUFParser | None = None
        self.size: int | None = None

    def start(self, response: httpx2.Response) -> GGUFParser:
        if self.parser is None:
            if response.status_code == 206:
                span = parse_content_range(response.headers.get("content-range"))
                self.size = span[2] if span is not None else None
            elif "content-encoding" not in response.headers:
                self.size = int_or_none(response.headers.get("content-length"))
            self.parser = GGUFParser(file=self.path, file_size=self.size)
        return self.parser


class _GGUFSpan(SpanRead):
    """Reader of bytes [start, end) of a GGUF file: parsed as they arrive, stopped when the parser is done."""

    def __init__(self, parse: _Parse, start: int, end: int, repo_id: str | None) -> None:
        super().__init__(start, end, parse.path, repo_id)
        self.parse = parse

    async def __call__(self, response: httpx2.Response) -> bytes:
        skip = self._skip(response)
        parser = self.parse.start(response)
        draining = False
        async for chunk in response.aiter_bytes():
            if draining:
                continue
            if skip:
                dropped = min(skip, len(chunk))
                chunk, skip = chunk[dropped:], skip - dropped
            parser.feed(chunk[: self.end - parser.received])
            if parser.done or parser.received >= self.end:
                if not _short_rest(response):
                    break
                draining = True
        return b""


def _short_rest(response: httpx2.Response) -> bool:
    """Whether what is left of a 206 body is at most :data:`DRAIN_MAX` bytes: it is then read and dropped,
    so that the connection goes back to the pool; a longer rest, or a 200 (the whole file), closes it."""
    length = int_or_none(response.headers.get("content-length"))
    return (
        response.status_code == 206
        and length is not None
        and length - response.num_bytes_downloaded <= DRAIN_MAX
    )


async def read_gguf_header(
    client: Requester,
    url: str,
    *,
    path: str,
    first_bytes: int = GGUF_FIRST_READ,
    trace: Trace | None = None,
    repo_id: str | None = None,
    revision: str | None = None,
) -> WeightFile:
    """One GGUF header by range reads; the record's ``commit`` is the ``X-Repo-Commit`` the answer carried.

    Raises CorruptHeaderError for a hostile or truncated header (as soon as the bytes show it)."""
    trace = trace if trace is not None else Trace()
    parse = _Parse(path)
    first = _GGUFSpan(parse, 0, max(1, first_bytes), repo_id)
    response = await first_read(
        client, url, first.end, first, trace, path=path, repo_id=repo_id, revision=revision
    )
    parser = parse.parser
    if parser is None:  # pragma: no cover - a 2xx answer always went through the reader
        raise NetworkError(f"{repo_id}: {path}: the range read returned no body", repo_id=repo_id)
    while not parser.done and (parse.size is None or parser.received < parse.size):
        start = parser.received
        before = start
        await read_span(
            client, response, url, _GGUFSpan(parse, start, start + parser.wanted(), repo_id), trace
        )
        if parser.received == before:
            break  # the server sent nothing more: finish() says the header is truncated
    header: GGUFHeader = parser.finish()
    size = response.linked_size or parse.size
    return WeightFile(path, header.header_end, header_record(header), size, response.commit, format="gguf")
