"""fetch_snapshot: one consistent snapshot of a Hub repo (config.json + safetensors headers only).

Design (fewest sequential round trips that still reads everything at ONE commit):

Wave 1, in parallel:
  * ``GET /api/models/{id}/revision/{rev}?expand=sha&expand=siblings`` (+ ``safetensors``, ``gated``
    with ``with_hub_info``): the commit sha the revision resolves to and the file list at that sha;
  * speculatively, at the *requested* revision: ``config.json``, ``model.safetensors.index.json``
    and the first range read of ``model.safetensors`` (in ``subfolder`` when given).
  A speculative answer is kept only when its ``X-Repo-Commit`` (on the 302 for LFS files, on the
  final response otherwise) equals the sha of the revision info, or when the revision already is a
  40-hex sha; otherwise (the branch moved in between, or the server sends no ``X-Repo-Commit``) the
  file is read again at the sha. So the snapshot is consistent, and a normal repo needs no
  second wave for its index/config. The price is one 404 per repo on the "resolvers" bucket
  (``model.safetensors`` of a sharded repo, or the index of a single-file one); pass
  ``speculative=False`` to spend one more round trip instead.
Wave 2, in parallel, everything at the sha, each chain starting as soon as the revision info is in
  and waiting only for the speculative read it uses: whatever wave 1 could not provide (config.json
  in the root, a re-read, companions ``quantize_config.json``/``hf_quant_config.json``/
  ``params.json``), every shard header (first read sized from the index: tensors of the shard x
  (name length + 128 bytes) + 2 KiB, a second read only when ``8 + N`` is larger than what arrived;
  the second read goes straight to the signed CDN URL), and with ``with_hub_info`` the recursive
  tree listing (paginated) for file sizes. No tree listing otherwise. Speculative reads nobody
  needs are cancelled at the end.

The ``safetensors-metadata`` route (``GET /api/models/{id}/safetensors-metadata/{index}``, one
request for all shard headers, ``main`` only) is used for sharded repos when the requested
revision is literally ``main``. It answers parsed headers without N, and it reads ``main`` at
request time, not at our sha. So in the same wave we ``POST .../paths-info/{sha}`` for the shard
sizes (or use the tree listing when ``with_hub_info``) and derive N = size - 8 - max(data end):
exact for every loadable safetensors file, whose data buffer must end at the end of the file. The
route is accepted only if it matches the index read at the sha (same shards, same tensor names per
shard, same index ``metadata``) and every derived N is at least the compact JSON length of its
header; anything else (404, an error, a mismatch, no sizes) falls back to range reads, and an
endpoint that lacks the route (404/405/501 without ``X-Error-Code``) is not asked again.

Round trips (``FetchStats.round_trips`` = the longest chain of sequential HTTP exchanges, redirect
hops included; as measured in tests/test_fetch_repo.py and against the fake Hub):
  single file        2  (revision info | config | index 404 | 302 + 206 from the CDN)
  sharded            3  (wave 1: 1, then 302 + 206 for every shard concurrently)
  sharded + route    2  (wave 1: 1, then route | paths-info)
  +1 when the Hub answers config/index with a 307 to /api/resolve-cache (the index is on the
  critical path of sharded repos), companions cost revision info + 1-2 in parallel, +1 for a
  header longer than its first read (the CDN URL is reused), +1 per retry, +1 when the route fails
  and range reads follow; ``speculative=False`` adds 1 (config/index/first read move to wave 2).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from huggingface_hub import constants as hf_constants
from huggingface_hub import hf_hub_url
from huggingface_hub.utils import validate_repo_id

from ..errors import (
    CorruptHeaderError,
    HubmemError,
    InvalidRepoIdError,
    NetworkError,
    OfflineError,
    RevisionNotFoundError,
)
from ..parse.header import MAX_HEADER_LENGTH
from ..snapshot import FetchStats, Snapshot, WeightFile
from .cache import CommitCache, HeaderCache
from .client import DEFAULT_FIRST_READ, HeaderRead, HubClient, HubResponse, Trace
from .errors import EntryNotFoundError
from .layout import (
    CONFIG_FILE,
    INDEX_FILE,
    SINGLE_FILE,
    Layout,
    first_read_size,
    join,
    plan_layout,
    shards_of,
)

T = TypeVar("T")
_SHA = re.compile(r"^[0-9a-f]{40}$")
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_MAX_TREE_PAGES = 1000


@dataclass
class _Spec:
    """A speculative read at the requested revision: its value or its error."""

    value: Any = None  # HubResponse | HeaderRead | None (None: the file is missing)
    error: BaseException | None = None


async def _all(*aws: Awaitable[T]) -> list[T]:
    """Run concurrently; on the first failure cancel the rest and raise it."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    if not tasks:
        return []
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        return [t.result() for t in tasks]
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _validate(repo_id: str) -> None:
    try:
        validate_repo_id(repo_id)
    except Exception as exc:  # HFValidationError (a ValueError), or a non-string
        raise InvalidRepoIdError(f"invalid repo id {repo_id!r}: {exc}", repo_id=str(repo_id)) from None


def _norm_subfolder(subfolder: str | None) -> str | None:
    if subfolder is None:
        return None
    cleaned = subfolder.strip().strip("/")
    if not cleaned:
        return None
    if any(part in ("", ".", "..") for part in cleaned.split("/")):
        raise InvalidRepoIdError(f"invalid subfolder {subfolder!r}")
    return cleaned


def _decode_json(content: bytes) -> Any:
    return json.loads(content.decode("utf-8-sig"))


class _Fetch:
    def __init__(
        self,
        client: HubClient,
        repo_id: str,
        revision: str,
        subfolder: str | None,
        with_hub_info: bool,
        trace: Trace,
        cache: HeaderCache | None = None,
    ) -> None:
        self.client = client
        self.cache = cache
        self.commit_cache: CommitCache | None = None  # the cache at self.sha, once known
        self.list_tree = with_hub_info  # the tree listing for file sizes (fetch_snapshot's list_tree)
        self.repo_id = repo_id
        self.revision = revision
        self.subfolder = subfolder
        self.base = subfolder or ""
        self.with_hub_info = with_hub_info
        self.trace = trace
        self.sha: str = ""
        self.warnings: list[str] = []
        self.spec: dict[str, tuple[asyncio.Future[_Spec], Trace]] = {}  # path -> speculative read

    # -- URLs --------------------------------------------------------------------------------------

    def resolve_url(self, path: str, revision: str) -> str:
        return hf_hub_url(self.repo_id, path, revision=revision, endpoint=self.client.endpoint)

    def _kw(self, path: str | None = None, revision: str | None = None) -> dict[str, Any]:
        return {"repo_id": self.repo_id, "path": path, "revision": revision or self.revision}

    # -- wave 1 ------------------------------------------------------------------------------------

    async def revision_info(self, trace: Trace) -> dict[str, Any]:
        expand = ["sha", "siblings"] + (["safetensors", "gated"] if self.with_hub_info else [])
        if self.cache is not None:  # cached content of gated/private repos is scoped to the token
            expand += [e for e in ("gated", "private") if e not in expand]
        url = self.client.api_url(self.repo_id, "revision", quote(self.revision, safe=""))
        data, _ = await self.client.get_json(
            url, params=[("expand", e) for e in expand], trace=trace, **self._kw()
        )
        if not isinstance(data, dict):
            raise NetworkError(
                f"{self.repo_id}: the revision info is not a JSON object", repo_id=self.repo_id
            )
        return data

    async def spec_file(self, path: str, trace: Trace) -> _Spec:
        try:
            return _Spec(
                await self.client.get(
                    self.resolve_url(path, self.revision), trace=trace, missing_ok=True, **self._kw(path)
                )
            )
        except HubmemError as exc:
            return _Spec(error=exc)

    async def spec_header(self, path: str, trace: Trace) -> _Spec:
        try:
            return _Spec(
                await self.client.read_header(
                    self.resolve_url(path, self.revision), trace=trace, **self._kw(path)
                )
            )
        except EntryNotFoundError:
            return _Spec(None)
        except HubmemError as exc:
            return _Spec(error=exc)

    async def take(self, path: str, trace: Trace) -> Any:
        """The speculative value for ``path`` when it was read at the resolved sha, else None (read
        it again at the sha). Waits for the speculative read; ``trace`` then continues after it."""
        pending = self.spec.get(path)
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
        if value is None:
            return None
        commit = value.commit if isinstance(value, HubResponse | HeaderRead) else None
        if _SHA.match(self.revision) or commit == self.sha:
            return value
        return None

    # -- wave 2 pieces -----------------------------------------------------------------------------

    async def file_at_sha(self, path: str, trace: Trace) -> HubResponse | None:
        cc = self.commit_cache
        if cc is not None and (content := await asyncio.to_thread(cc.get_file, path)) is not None:
            trace.stats.cache_hits += 1
            return HubResponse(self.resolve_url(path, self.sha), 200, "OK (cache)", httpx.Headers(), content)
        got = await self.take(path, trace)
        if got is None:
            got = await self.client.get(
                self.resolve_url(path, self.sha), trace=trace, missing_ok=True, **self._kw(path)
            )
        if cc is not None and got is not None:
            await asyncio.to_thread(cc.put_file, path, got.content)
        return got

    async def json_file(self, path: str, trace: Trace) -> Any:
        response = await self.file_at_sha(path, trace)
        if response is None:
            self.warnings.append(f"{path} is listed but could not be found at {self.sha[:12]}")
            return None
        try:
            return _decode_json(response.content)
        except (UnicodeDecodeError, ValueError) as exc:
            self.warnings.append(f"{path} is not valid JSON ({exc}); ignored")
            return None

    async def header(self, path: str, trace: Trace, first_bytes: int) -> HeaderRead:
        cc = self.commit_cache
        if cc is not None and (hit := await asyncio.to_thread(cc.get_header, path)) is not None:
            trace.stats.cache_hits += 1
            return HeaderRead(path, hit.header_length, hit.header, hit.size, self.sha)
        got = await self.take(path, trace)
        if got is None:
            got = await self.client.read_header(
                self.resolve_url(path, self.sha),
                first_bytes=first_bytes,
                trace=trace,
                **self._kw(path, self.sha),
            )
        if cc is not None:
            await asyncio.to_thread(cc.put_header, path, got.header_length, got.header, got.size)
        return got

    async def tree_sizes(self, trace: Trace) -> dict[str, int]:
        """Recursive tree listing at the sha (paginated with ``Link: rel="next"``): path -> size.

        Only for ``with_hub_info``; a failure is a warning, not an error."""
        url: str | None = self.client.api_url(self.repo_id, "tree", self.sha)
        params: Any = {"recursive": "true", "expand": "false"}
        sizes: dict[str, int] = {}
        pages = 0
        try:
            while url is not None and pages < _MAX_TREE_PAGES:
                data, response = await self.client.get_json(url, params=params, trace=trace, **self._kw())
                pages += 1
                for entry in data if isinstance(data, list) else []:
                    size = _entry_size(entry)
                    if size is not None:
                        sizes[entry["path"]] = size
                url, params = _next_link(response), None
        except HubmemError as exc:
            self.warnings.append(f"tree listing failed, file sizes incomplete: {exc}")
        return sizes

    async def paths_sizes(self, paths: list[str], trace: Trace) -> dict[str, int]:
        """``POST /api/models/{id}/paths-info/{sha}`` for exactly these paths: path -> size."""
        url = self.client.api_url(self.repo_id, "paths-info", self.sha)
        data, _ = await self.client.get_json(
            url, method="POST", data={"paths": paths, "expand": "false"}, trace=trace, **self._kw()
        )
        sizes: dict[str, int] = {}
        for entry in data if isinstance(data, list) else []:
            size = _entry_size(entry)
            if size is not None:
                sizes[entry["path"]] = size
        return sizes

    async def via_route(
        self,
        index_path: str,
        index: dict[str, Any],
        shards: dict[str, list[str]],
        trace: Trace,
        tree: asyncio.Task[dict[str, int]] | None,
        tree_trace: Trace | None,
    ) -> list[WeightFile] | None:
        """All shard headers from the safetensors-metadata route, or None to fall back."""
        client = self.client
        url = client.api_url(self.repo_id, "safetensors-metadata", quote(index_path, safe="/"))
        t_route = trace.fork()
        t_sizes = trace.fork()

        async def sizes() -> dict[str, int]:
            if tree is not None:
                return await tree
            return await self.paths_sizes(list(shards), t_sizes)

        results = await asyncio.gather(
            client.request("GET", url, trace=t_route, **self._kw(index_path)), sizes(), return_exceptions=True
        )
        trace.join(t_route, t_sizes, *([tree_trace] if tree_trace is not None else []))
        route, sizes_result = results
        if isinstance(route, BaseException) or isinstance(sizes_result, BaseException):
            for r in results:
                if isinstance(r, BaseException) and not isinstance(r, Exception):
                    raise r  # cancellation and the like
            return None
        assert isinstance(route, HubResponse) and isinstance(sizes_result, dict)
        if route.status >= 400:
            if route.status in (404, 405, 501) and "x-error-code" not in route.headers:
                client.state.metadata_route_unavailable = True
            return None
        try:
            body = _decode_json(route.content)
        except (UnicodeDecodeError, ValueError):
            return None
        return _route_files(body, index_path, index, shards, sizes_result)

    async def via_ranges(self, shards: dict[str, list[str]], trace: Trace) -> list[WeightFile]:
        forks = [trace.fork() for _ in shards]
        reads = await _all(
            *(
                self.header(path, t, first_read_size(names))
                for (path, names), t in zip(shards.items(), forks, strict=True)
            )
        )
        trace.join(*forks)
        return [WeightFile(r.path, r.header_length, r.header, r.size) for r in reads]

    async def weights(
        self,
        layout: Layout,
        trace: Trace,
        tree: asyncio.Task[dict[str, int]] | None,
        tree_trace: Trace | None,
    ) -> tuple[list[WeightFile], dict[str, Any] | None]:
        if layout.index_path is None:
            forks = [trace.fork() for _ in layout.files]
            reads = await _all(
                *(
                    self.header(path, t, DEFAULT_FIRST_READ)
                    for path, t in zip(layout.files, forks, strict=True)
                )
            )
            trace.join(*forks)
            return [WeightFile(r.path, r.header_length, r.header, r.size) for r in reads], None

        index_path = layout.index_path
        response = await self.file_at_sha(index_path, trace)
        if response is None:
            raise EntryNotFoundError(
                f"{self.repo_id}: {index_path} is listed but missing at {self.sha[:12]}", repo_id=self.repo_id
            )
        try:
            index = _decode_json(response.content)
        except (UnicodeDecodeError, ValueError) as exc:
            raise CorruptHeaderError(f"{index_path}: not valid JSON ({exc})", repo_id=self.repo_id) from None
        shards = shards_of(index, index_path)
        files: list[WeightFile] | None = None
        client = self.client
        route_ok = client.use_metadata_route and not client.state.metadata_route_unavailable
        cc = self.commit_cache
        if cc is not None and all(cc.has_header(p) for p in shards):
            route_ok = False  # every shard header is cached: no request at all
        if self.revision == "main" and route_ok:
            files = await self.via_route(index_path, index, shards, trace, tree, tree_trace)
            if cc is not None and files is not None:
                for f in files:
                    await asyncio.to_thread(cc.put_header, f.path, f.header_length, f.header, f.size)
        if files is None:
            files = await self.via_ranges(shards, trace)
        return files, index

    # -- the whole thing ---------------------------------------------------------------------------

    async def run(self, speculative: bool) -> Snapshot:
        root = self.trace
        base = self.base
        spec_paths = {
            join(base, CONFIG_FILE): "file",
            join(base, INDEX_FILE): "file",
            join(base, SINGLE_FILE): "header",
        }
        t_info = root.fork()
        info_task = asyncio.ensure_future(self.revision_info(t_info))
        cache = self.cache
        if speculative and cache is not None:  # a complete snapshot is cached: its reads cost nothing
            speculative = not cache.expect_complete(
                self.client.endpoint, self.repo_id, self.revision, self.subfolder
            )
        if speculative:
            for path, kind in spec_paths.items():
                t = root.fork()
                coro: Coroutine[Any, Any, _Spec] = (
                    self.spec_file(path, t) if kind == "file" else self.spec_header(path, t)
                )
                self.spec[path] = (asyncio.ensure_future(coro), t)
        try:
            return await self._after_info(await info_task, t_info)
        finally:
            tasks = [task for task, _ in self.spec.values()]
            for task in tasks:
                if not task.done():
                    task.cancel()  # an answer nobody needs (e.g. the index of a single-file repo)
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _after_info(self, info: dict[str, Any], t_info: Trace) -> Snapshot:
        """Wave 2: everything the file list asks for, starting as soon as the revision info is in;
        each chain waits only for the speculative read it uses."""
        root = self.trace
        root.join(t_info)
        sha = info.get("sha")
        if not (isinstance(sha, str) and _SHA.match(sha)):
            if _SHA.match(self.revision):
                sha = self.revision
            else:
                raise NetworkError(
                    f"{self.repo_id}: the Hub did not report a commit sha for revision {self.revision!r}",
                    repo_id=self.repo_id,
                )
        self.sha = sha
        if self.cache is not None:
            public = info.get("gated") is False and info.get("private") is False
            scope = "" if public else (self.client.token_id or "anonymous")
            self.commit_cache = self.cache.commit(self.client.endpoint, self.repo_id, sha, scope)
        siblings = [
            s["rfilename"]
            for s in info.get("siblings") or []
            if isinstance(s, dict) and isinstance(s.get("rfilename"), str)
        ]
        layout = plan_layout(siblings, self.subfolder)
        self.warnings.extend(layout.warnings)

        # wave 2
        tree_task: asyncio.Task[dict[str, int]] | None = None
        t_tree: Trace | None = None
        if self.with_hub_info and self.list_tree:
            t_tree = root.fork()
            tree_task = asyncio.ensure_future(self.tree_sizes(t_tree))
        t_config = root.fork()
        t_weights = root.fork()
        t_extra = [root.fork() for _ in layout.companions]

        async def config() -> Any:
            if layout.config_path is None:
                return None
            return await self.json_file(layout.config_path, t_config)

        try:
            config_value, (files, index), *extras = await _all(
                config(),
                self.weights(layout, t_weights, tree_task, t_tree),
                *(self.json_file(p, t) for p, t in zip(layout.companions, t_extra, strict=True)),
            )
            tree_sizes = await tree_task if tree_task is not None else None
        finally:
            if tree_task is not None and not tree_task.done():
                tree_task.cancel()
                await asyncio.gather(tree_task, return_exceptions=True)
        root.join(t_config, t_weights, *t_extra, *([t_tree] if t_tree is not None else []))
        root.join(*(t for task, t in self.spec.values() if task.done()))

        if layout.config_path is None:
            where = f"{self.subfolder}/ or the root" if self.subfolder else "the repo"
            self.warnings.append(f"no config.json in {where}: architecture figures are unavailable")
        elif config_value is not None and not isinstance(config_value, dict):
            self.warnings.append(f"{layout.config_path} is not a JSON object; ignored")
            config_value = None

        extra: dict[str, Any] = {}
        for path, value in zip(layout.companions, extras, strict=True):
            if value is not None:
                extra[path] = value

        hub_info: dict[str, Any] | None = None
        if self.with_hub_info:
            sizes = tree_sizes or {}
            files = [
                f if f.size is not None or f.path not in sizes else _with_size(f, sizes[f.path])
                for f in files
            ]
            hub_info = {
                "sha": self.sha,
                "gated": info.get("gated"),
                "safetensors": info.get("safetensors"),
                "siblings": [{"rfilename": p, "size": sizes.get(p)} for p in siblings],
            }

        if index is not None:
            named = {t for f in files for t in f.header if t != "__metadata__"}
            missing = [t for t in index.get("weight_map", {}) if t not in named]
            if missing:
                self.warnings.append(
                    f"{layout.index_path} lists {len(missing)} tensors absent from the shard headers "
                    f"(e.g. {missing[0]!r})"
                )

        if self.commit_cache is not None:
            cc = self.commit_cache
            await asyncio.to_thread(cc.mark_complete, self.subfolder, [f.path for f in files])
            await asyncio.to_thread(
                cc.cache.remember_ref,
                cc.endpoint,
                self.repo_id,
                self.revision,
                self.subfolder,
                cc.sha,
                cc.scope,
            )
        stats = root.finish()
        return Snapshot(
            repo_id=self.repo_id,
            revision=self.revision,
            commit=self.sha,
            source="hub",
            endpoint=self.client.endpoint,
            subfolder=self.subfolder,
            config=config_value,
            index=index,
            index_path=layout.index_path,
            files=files,
            extra=extra,
            hub_info=hub_info,
            stats=stats,
            warnings=self.warnings,
        )


def _with_size(f: WeightFile, size: int) -> WeightFile:
    return WeightFile(f.path, f.header_length, f.header, size)


def _entry_size(entry: Any) -> int | None:
    if (
        not isinstance(entry, dict)
        or entry.get("type", "file") != "file"
        or not isinstance(entry.get("path"), str)
    ):
        return None
    lfs = entry.get("lfs")
    size = (
        lfs.get("size") if isinstance(lfs, dict) and isinstance(lfs.get("size"), int) else entry.get("size")
    )
    return size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None


def _next_link(response: HubResponse) -> str | None:
    link = response.headers.get("link")
    if not link:
        return None
    for part in link.split(","):
        m = _LINK_NEXT.search(part)
        if m:
            return str(httpx.URL(response.url).join(m.group(1)))
    return None


def _route_files(
    body: Any,
    index_path: str,
    index: dict[str, Any],
    shards: dict[str, list[str]],
    sizes: dict[str, int],
) -> list[WeightFile] | None:
    """Check the route's answer against the index read at the sha; derive each exact N."""
    if not isinstance(body, dict) or not isinstance(body.get("headers"), dict):
        return None
    headers: dict[str, Any] = body["headers"]
    route_index = body.get("index")
    if (
        isinstance(route_index, dict)
        and "metadata" in route_index
        and "metadata" in index
        and route_index["metadata"] != index["metadata"]
    ):
        return None
    base = index_path.rsplit("/", 1)[0] + "/" if "/" in index_path else ""
    if len(headers) != len(shards):
        return None
    files: list[WeightFile] = []
    for path, names in shards.items():
        header = headers.get(path[len(base) :]) if path.startswith(base) else None
        if header is None:
            header = headers.get(path)
        size = sizes.get(path)
        if not isinstance(header, dict) or size is None:
            return None
        tensors = {k: v for k, v in header.items() if k != "__metadata__"}
        if set(tensors) != set(names):
            return None
        ends = []
        for info in tensors.values():
            offsets = info.get("data_offsets") if isinstance(info, dict) else None
            if not (
                isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)
            ):
                return None
            ends.append(offsets[1])
        n = size - 8 - max(ends, default=0)
        compact = len(json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        if not compact <= n <= MAX_HEADER_LENGTH:
            return None
        files.append(WeightFile(path, n, header, size))
    return files


async def fetch_snapshot(
    client: HubClient,
    repo_id: str,
    *,
    revision: str | None = "main",
    subfolder: str | None = None,
    with_hub_info: bool = False,
    speculative: bool = True,
    cache: HeaderCache | None = None,
    list_tree: bool | None = None,
) -> Snapshot:
    """Read config.json, the companions and every safetensors header of ``repo_id`` at one commit.

    Raises hubmem's typed errors: ``InvalidRepoIdError``, ``RepoNotFoundError``, ``GatedRepoError``,
    ``UnauthorizedError``, ``RevisionNotFoundError``, ``NoSafetensorsError``, ``CorruptHeaderError``,
    ``NetworkError``, ``RateLimitedError``, ``OfflineError``.

    ``cache`` (:class:`hubmem.fetch.cache.HeaderCache`): files and headers at the resolved sha are
    read from it before any range read and stored into it after; with a complete cached snapshot of
    the revision the speculative first wave is skipped, so an unchanged repo costs one request.
    ``list_tree=False`` keeps ``with_hub_info``'s model info but skips its tree listing (the sizes
    the range reads / paths-info already saw are kept; the sibling sizes in ``hub_info`` are then None).
    """
    _validate(repo_id)
    revision = (revision or "main").strip()
    if not revision:
        revision = "main"
    if getattr(hf_constants, "HF_HUB_OFFLINE", False):
        raise OfflineError(
            f"HF_HUB_OFFLINE is set: not fetching {repo_id} from {client.endpoint}", repo_id=repo_id
        )
    trace = Trace(FetchStats())
    fetch = _Fetch(client, repo_id, revision, _norm_subfolder(subfolder), with_hub_info, trace, cache)
    if list_tree is not None:
        fetch.list_tree = with_hub_info and list_tree
    return await fetch.run(speculative)
