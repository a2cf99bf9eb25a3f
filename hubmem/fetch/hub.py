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

The ``safetensors-metadata`` route (one request for all shard headers, ``main`` only, checked
against the index read at the sha) is described in :mod:`hubmem.fetch.route`.

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
from typing import Any

import httpx
from huggingface_hub import constants as hf_constants
from huggingface_hub import hf_hub_url

from hubmem.errors import CorruptHeaderError, EntryNotFoundError, NetworkError, OfflineError
from hubmem.fetch import listing
from hubmem.fetch.cache import CommitCache, HeaderCache
from hubmem.fetch.http.client import HubClient
from hubmem.fetch.http.ranges import DEFAULT_FIRST_READ
from hubmem.fetch.http.response import HubResponse, decode_json
from hubmem.fetch.http.tasks import run_all
from hubmem.fetch.http.trace import Trace
from hubmem.fetch.ids import norm_subfolder, validate_repo_id
from hubmem.fetch.layout import (
    CONFIG_FILE,
    INDEX_FILE,
    SINGLE_FILE,
    Layout,
    first_read_size,
    join,
    plan_layout,
    shards_of,
)
from hubmem.fetch.revision import resolved_sha, revision_info, snapshot_expand
from hubmem.fetch.route import headers_via_route
from hubmem.fetch.speculative import Speculation
from hubmem.snapshot import FetchStats, Snapshot, WeightFile


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
        self.spec = Speculation(client, repo_id, revision)

    # -- URLs --------------------------------------------------------------------------------------

    def resolve_url(self, path: str, revision: str) -> str:
        return hf_hub_url(self.repo_id, path, revision=revision, endpoint=self.client.endpoint)

    def _kw(self, path: str | None = None, revision: str | None = None) -> dict[str, Any]:
        return {"repo_id": self.repo_id, "path": path, "revision": revision or self.revision}

    # -- wave 1 ------------------------------------------------------------------------------------

    async def revision_info(self, trace: Trace) -> dict[str, Any]:
        expand = snapshot_expand(with_hub_info=self.with_hub_info, scoped=self.cache is not None)
        info = await revision_info(self.client, self.repo_id, self.revision, expand, trace=trace)
        if info is None:
            raise NetworkError(
                f"{self.repo_id}: the revision info is not a JSON object", repo_id=self.repo_id
            )
        return info

    # -- wave 2 pieces -----------------------------------------------------------------------------

    async def file_at_sha(self, path: str, trace: Trace) -> HubResponse | None:
        cc = self.commit_cache
        if cc is not None and (content := await asyncio.to_thread(cc.get_file, path)) is not None:
            trace.stats.cache_hits += 1
            return HubResponse(self.resolve_url(path, self.sha), 200, "OK (cache)", httpx.Headers(), content)
        got = await self.spec.take_file(path, trace, self.sha)
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
            return decode_json(response.content)
        except (UnicodeDecodeError, ValueError) as exc:
            self.warnings.append(f"{path} is not valid JSON ({exc}); ignored")
            return None

    async def header(self, path: str, trace: Trace, first_bytes: int) -> WeightFile:
        cc = self.commit_cache
        if cc is not None and (hit := await asyncio.to_thread(cc.get_header, path)) is not None:
            trace.stats.cache_hits += 1
            return hit
        got = await self.spec.take_header(path, trace, self.sha)
        if got is None:
            got = await self.client.read_header(
                self.resolve_url(path, self.sha),
                first_bytes=first_bytes,
                trace=trace,
                **self._kw(path, self.sha),
            )
        if cc is not None:
            await asyncio.to_thread(cc.put_header, got.path, got.header_length, got.header, got.size)
        return got

    async def via_ranges(self, shards: dict[str, list[str]], trace: Trace) -> list[WeightFile]:
        forks = [trace.fork() for _ in shards]
        reads = await run_all(
            *(
                self.header(path, t, first_read_size(names))
                for (path, names), t in zip(shards.items(), forks, strict=True)
            )
        )
        trace.join(*forks)
        return reads

    async def weights(
        self,
        layout: Layout,
        trace: Trace,
        tree: asyncio.Task[dict[str, int]] | None,
        tree_trace: Trace | None,
    ) -> tuple[list[WeightFile], dict[str, Any] | None]:
        if layout.index_path is None:
            forks = [trace.fork() for _ in layout.files]
            reads = await run_all(
                *(
                    self.header(path, t, DEFAULT_FIRST_READ)
                    for path, t in zip(layout.files, forks, strict=True)
                )
            )
            trace.join(*forks)
            return reads, None

        index_path = layout.index_path
        response = await self.file_at_sha(index_path, trace)
        if response is None:
            raise EntryNotFoundError(
                f"{self.repo_id}: {index_path} is listed but missing at {self.sha[:12]}", repo_id=self.repo_id
            )
        try:
            index = decode_json(response.content)
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
            files = await headers_via_route(
                client,
                self.repo_id,
                self.revision,
                self.sha,
                index_path,
                index,
                shards,
                trace,
                tree,
                tree_trace,
            )
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
                if kind == "file":
                    self.spec.start_file(path, t)
                else:
                    self.spec.start_header(path, t)
        try:
            return await self._after_info(await info_task, t_info)
        finally:
            await self.spec.cancel()

    async def _after_info(self, info: dict[str, Any], t_info: Trace) -> Snapshot:
        """Wave 2: everything the file list asks for, starting as soon as the revision info is in;
        each chain waits only for the speculative read it uses."""
        root = self.trace
        root.join(t_info)
        self.sha = sha = resolved_sha(info, self.repo_id, self.revision)
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
            tree_task = asyncio.ensure_future(
                listing.tree_sizes(self.client, self.repo_id, self.revision, self.sha, t_tree, self.warnings)
            )
        t_config = root.fork()
        t_weights = root.fork()
        t_extra = [root.fork() for _ in layout.companions]

        async def config() -> Any:
            if layout.config_path is None:
                return None
            return await self.json_file(layout.config_path, t_config)

        try:
            config_value, (files, index), *extras = await run_all(
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
        root.join(*self.spec.finished_traces())

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
    validate_repo_id(repo_id)
    revision = (revision or "main").strip()
    if not revision:
        revision = "main"
    if getattr(hf_constants, "HF_HUB_OFFLINE", False):
        raise OfflineError(
            f"HF_HUB_OFFLINE is set: not fetching {repo_id} from {client.endpoint}", repo_id=repo_id
        )
    trace = Trace(FetchStats())
    fetch = _Fetch(client, repo_id, revision, norm_subfolder(subfolder), with_hub_info, trace, cache)
    if list_tree is not None:
        fetch.list_tree = with_hub_info and list_tree
    return await fetch.run(speculative)
