"""The speculative first wave: files read at the *requested* revision while the revision info is
still on its way, kept only when they turn out to have been read at the resolved sha."""

from __future__ import annotations

import asyncio

import msgspec
from huggingface_hub import hf_hub_url

from hubmem.errors import EntryNotFoundError, HubmemError, RevisionNotFoundError
from hubmem.fetch.http.client import HubClient
from hubmem.fetch.http.gguf_ranges import read_gguf_header
from hubmem.fetch.http.ranges import read_header
from hubmem.fetch.http.response import HubResponse
from hubmem.fetch.http.trace import Trace
from hubmem.fetch.ids import is_sha
from hubmem.snapshot import WeightFile


class _Spec(msgspec.Struct):
    """A speculative read at the requested revision: its value or its error."""

    value: HubResponse | WeightFile | None = None  # None: the file is missing
    error: BaseException | None = None


class Speculation:
    """Speculative reads of one fetch, path -> (task, its trace)."""

    def __init__(self, client: HubClient, repo_id: str, revision: str) -> None:
        self.client = client
        self.repo_id = repo_id
        self.revision = revision
        self.reads: dict[str, tuple[asyncio.Future[_Spec], Trace]] = {}

    def _url(self, path: str) -> str:
        return hf_hub_url(self.repo_id, path, revision=self.revision, endpoint=self.client.endpoint)

    def start_file(self, path: str, trace: Trace) -> None:
        self.reads[path] = (asyncio.ensure_future(self._file(path, trace)), trace)

    def start_header(self, path: str, trace: Trace) -> None:
        self.reads[path] = (asyncio.ensure_future(self._header(path, trace)), trace)

    def start_gguf(self, path: str, trace: Trace) -> None:
        """A GGUF header read ahead of the file list (the name GGUF-my-repo gives the file)."""
        self.reads[path] = (asyncio.ensure_future(self._header(path, trace, gguf=True)), trace)

    async def _file(self, path: str, trace: Trace) -> _Spec:
        try:
            return _Spec(
                await self.client.get(
                    self._url(path),
                    trace=trace,
                    missing_ok=True,
                    repo_id=self.repo_id,
                    path=path,
                    revision=self.revision,
                )
            )
        except HubmemError as exc:
            return _Spec(error=exc)

    async def _header(self, path: str, trace: Trace, *, gguf: bool = False) -> _Spec:
        read = read_gguf_header if gguf else read_header
        try:
            return _Spec(
                await read(
                    self.client,
                    self._url(path),
                    trace=trace,
                    repo_id=self.repo_id,
                    path=path,
                    revision=self.revision,
                )
            )
        except EntryNotFoundError:
            return _Spec(None)
        except HubmemError as exc:
            return _Spec(error=exc)

    async def take_file(self, path: str, trace: Trace, sha: str) -> HubResponse | None:
        """The speculative answer for ``path`` when it was read at ``sha``, else None (read it again at
        the sha). Waits for the speculative read; ``trace`` then continues after it."""
        value = await self._take(path, trace, sha)
        return value if isinstance(value, HubResponse) else None

    async def take_header(self, path: str, trace: Trace, sha: str) -> WeightFile | None:
        """The speculative header of ``path`` when it was read at ``sha`` (as :meth:`take_file`)."""
        value = await self._take(path, trace, sha)
        return value if isinstance(value, WeightFile) else None

    async def _take(self, path: str, trace: Trace, sha: str) -> HubResponse | WeightFile | None:
        pending = self.reads.get(path)
        if pending is None:
            return None
        task, spec_trace = pending
        spec = await task
        trace.join(spec_trace)
        if spec.error is not None:
            if isinstance(spec.error, RevisionNotFoundError | EntryNotFoundError):
                return None  # the ref moved or the file appeared in between: read at the sha
            raise spec.error
        value = spec.value
        if value is not None and (is_sha(self.revision) or value.commit == sha):
            return value
        return None

    def finished_traces(self) -> list[Trace]:
        return [t for task, t in self.reads.values() if task.done()]

    async def cancel(self) -> None:
        """Cancel the reads nobody needed (e.g. the index of a single-file repo)."""
        tasks = [task for task, _ in self.reads.values()]
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
