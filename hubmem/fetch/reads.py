"""Reads of one repo at its resolved commit, each from the cheapest place that has it: the header cache,
then a speculative answer that turned out to be read at that commit, then the network (what came from
the network or the speculation is stored into the cache)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
from huggingface_hub import hf_hub_url

from hubmem.errors import CorruptHeaderError, EntryNotFoundError
from hubmem.fetch.cache.store import CommitCache
from hubmem.fetch.http.client import HubClient
from hubmem.fetch.http.gguf_ranges import GGUF_FIRST_READ, read_gguf_header
from hubmem.fetch.http.ranges import read_header
from hubmem.fetch.http.response import HubResponse, decode_json
from hubmem.fetch.http.tasks import run_all
from hubmem.fetch.http.trace import Trace
from hubmem.fetch.speculative import Speculation
from hubmem.snapshot import WeightFile

GGUF_SHARD_READ = 256 << 10  # later shards of a split GGUF: split.* keys and ~60 B per tensor info


class CommitReads:
    """Files and safetensors headers of ``repo_id`` at ``sha`` (``revision`` is what was asked for; it
    names the revision in error messages about files). Problems that do not stop the fetch go to
    ``warnings``."""

    def __init__(
        self,
        client: HubClient,
        repo_id: str,
        revision: str,
        sha: str,
        spec: Speculation,
        cache: CommitCache | None,
        warnings: list[str],
    ) -> None:
        self.client, self.repo_id, self.revision, self.sha = client, repo_id, revision, sha
        self.spec, self.cache, self.warnings = spec, cache, warnings
        self._looked_up: dict[str, bytes | None] = {}  # cache answers read ahead (None: not cached)

    async def look_up(self, paths: list[str]) -> None:
        """Read the cache entries of the files ``paths`` in one hop to a thread, for :meth:`file` to take
        (a thread hop costs about as much CPU as reading a small entry: one per file adds up)."""
        cc = self.cache
        if cc is not None and paths:
            self._looked_up = await asyncio.to_thread(_get_files, cc, paths)

    async def _cached_file(self, cc: CommitCache, path: str) -> bytes | None:
        if path in self._looked_up:
            return self._looked_up.pop(path)
        return await asyncio.to_thread(cc.get_file, path)

    def url(self, path: str) -> str:
        return hf_hub_url(self.repo_id, path, revision=self.sha, endpoint=self.client.endpoint)

    async def file(self, path: str, trace: Trace) -> HubResponse | None:
        """The file's answer, None when it is missing."""
        cc = self.cache
        if cc is not None and (content := await self._cached_file(cc, path)) is not None:
            trace.stats.cache_hits += 1
            return HubResponse(self.url(path), 200, "OK (cache)", httpx2.Headers(), content)
        got = await self.spec.take_file(path, trace, self.sha)
        if got is None:
            got = await self.client.get(
                self.url(path),
                trace=trace,
                missing_ok=True,
                repo_id=self.repo_id,
                path=path,
                revision=self.revision,
            )
        if cc is not None and got is not None:
            await asyncio.to_thread(cc.put_file, path, got.content)
        return got

    async def json_file(self, path: str, trace: Trace) -> Any:
        """A small JSON file; None (and a warning) when it is missing or not JSON."""
        response = await self.file(path, trace)
        if response is None:
            self.warnings.append(f"{path} is listed but could not be found at {self.sha[:12]}")
            return None
        try:
            return decode_json(response.content)
        except (UnicodeDecodeError, ValueError) as exc:
            self.warnings.append(f"{path} is not valid JSON ({exc}); ignored")
            return None

    async def index(self, path: str, trace: Trace) -> Any:
        """The safetensors index, which the weights cannot do without (missing or not JSON: an error)."""
        response = await self.file(path, trace)
        if response is None:
            raise EntryNotFoundError(
                f"{self.repo_id}: {path} is listed but missing at {self.sha[:12]}", repo_id=self.repo_id
            )
        try:
            return decode_json(response.content)
        except (UnicodeDecodeError, ValueError) as exc:
            raise CorruptHeaderError(f"{path}: not valid JSON ({exc})", repo_id=self.repo_id) from None

    async def header(self, path: str, trace: Trace, first_bytes: int, *, gguf: bool = False) -> WeightFile:
        """One safetensors header that is not in the cache, or with ``gguf`` a GGUF header (``first_bytes``:
        the size of the first range read); stored into the cache."""
        cc = self.cache
        got = await self.spec.take_header(path, trace, self.sha)
        if got is None:
            read = read_gguf_header if gguf else read_header
            got = await read(
                self.client,
                self.url(path),
                path=path,
                first_bytes=first_bytes,
                trace=trace,
                repo_id=self.repo_id,
                revision=self.sha,
            )
        if cc is not None:
            await asyncio.to_thread(cc.put_header, got)
        return got

    async def headers(
        self, first_reads: dict[str, int], trace: Trace, *, gguf: bool = False
    ) -> list[WeightFile]:
        """The headers of ``first_reads`` (path -> size of its first range read): those in the cache read
        in one hop to a thread, the others in parallel."""
        cc = self.cache
        hits = await asyncio.to_thread(_get_headers, cc, list(first_reads)) if cc is not None else {}
        trace.stats.cache_hits += len(hits)
        missing = [(p, n) for p, n in first_reads.items() if p not in hits]
        forks = [trace.fork() for _ in missing]
        read = await run_all(
            *(self.header(p, t, n, gguf=gguf) for (p, n), t in zip(missing, forks, strict=True))
        )
        trace.join(*forks)
        got = dict(zip((p for p, _ in missing), read, strict=True))
        return [hits[p] if p in hits else got[p] for p in first_reads]

    async def gguf_headers(self, paths: list[str], trace: Trace) -> list[WeightFile]:
        """The GGUF headers of a model's shards, in parallel. Only the first shard of a split model holds the
        metadata and the vocabulary; the others start with a smaller read."""
        first_reads = {p: GGUF_FIRST_READ if i == 0 else GGUF_SHARD_READ for i, p in enumerate(paths)}
        return await self.headers(first_reads, trace, gguf=True)

    async def store_headers(self, files: list[WeightFile]) -> None:
        """Keep headers that came another way (the safetensors-metadata route) in the cache."""
        if self.cache is not None:
            await asyncio.to_thread(_put_headers, self.cache, files)


def _get_files(cc: CommitCache, paths: list[str]) -> dict[str, bytes | None]:
    return {p: cc.get_file(p) for p in paths}


def _get_headers(cc: CommitCache, paths: list[str]) -> dict[str, WeightFile]:
    """The cached headers of ``paths`` (those not cached left out)."""
    return {p: hit for p in paths if (hit := cc.get_header(p)) is not None}


def _put_headers(cc: CommitCache, files: list[WeightFile]) -> None:
    for f in files:
        cc.put_header(f)
