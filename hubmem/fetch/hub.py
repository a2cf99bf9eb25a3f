"""fetch_snapshot: one consistent snapshot of a Hub repo (config.json + safetensors or GGUF headers only).

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
  GGUF-my-repo       2  (revision info | 302 + 206 of ``<model>-<quant>.gguf``, read speculatively by its
                        conventional name; the real 6.5 MB gemma-3-270m header arrives in that one read)
  other GGUF repos   3  (revision info, then 302 + 206; paths-info beside it for the sizes of the others)
  +1 when the Hub answers config/index with a 307 to /api/resolve-cache (the index is on the
  critical path of sharded repos), companions cost revision info + 1-2 in parallel, +1 for a
  header longer than its first read (the CDN URL is reused), +1 per retry, +1 when the route fails
  and range reads follow; ``speculative=False`` adds 1 (config/index/first read move to wave 2).
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from huggingface_hub import constants as hf_constants

from hubmem.errors import HubmemError, NetworkError, OfflineError
from hubmem.fetch import listing
from hubmem.fetch.assemble import finish_snapshot
from hubmem.fetch.cache.store import HeaderCache
from hubmem.fetch.gguf import conventional_name
from hubmem.fetch.http.client import HubClient
from hubmem.fetch.http.ranges import DEFAULT_FIRST_READ
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
from hubmem.fetch.reads import CommitReads
from hubmem.fetch.revision import resolved_sha, revision_info, snapshot_expand
from hubmem.fetch.route import headers_via_route
from hubmem.fetch.speculative import Speculation
from hubmem.snapshot import FetchStats, Snapshot, WeightFile

Weights = tuple[list[WeightFile], dict[str, Any] | None]  # the headers, and the index when sharded


class _Fetch:
    def __init__(
        self,
        client: HubClient,
        repo_id: str,
        revision: str,
        subfolder: str | None,
        with_hub_info: bool,
        list_tree: bool,
        cache: HeaderCache | None = None,
        gguf: tuple[str | None, str | None] = (None, None),
    ) -> None:
        self.client = client
        self.cache = cache
        self.repo_id = repo_id
        self.revision = revision
        self.subfolder = subfolder
        self.with_hub_info = with_hub_info
        self.list_tree = with_hub_info and list_tree  # the tree listing for file sizes
        self.trace = Trace(FetchStats())
        self.warnings: list[str] = []
        self.spec = Speculation(client, repo_id, revision)
        self.gguf_file, self.quant = gguf  # --gguf-file, --quant
        self.hint: tuple[str, str] | None = None  # the cache's complete snapshot of this revision: sha, scope

    # -- wave 1 ------------------------------------------------------------------------------------

    async def run(self, speculative: bool) -> Snapshot:
        t_info = self.trace.fork()
        info_task = asyncio.ensure_future(self.revision_info(t_info))
        cache = self.cache
        if speculative and cache is not None:  # a complete snapshot is cached: its reads cost nothing
            self.hint = cache.complete_hint(self.client.endpoint, self.repo_id, self.revision, self.subfolder)
            speculative = self.hint is None
        if speculative:
            base = self.subfolder or ""
            self.spec.start_file(join(base, CONFIG_FILE), self.trace.fork())
            self.spec.start_file(join(base, INDEX_FILE), self.trace.fork())
            self.spec.start_header(join(base, SINGLE_FILE), self.trace.fork())
            gguf_name = conventional_name(self.repo_id)
            if gguf_name is not None and self.gguf_file is None and self.quant is None:
                self.spec.start_gguf(join(base, gguf_name), self.trace.fork())
        try:
            info = await info_task
            self.trace.join(t_info)
            return await self.after_info(info)
        finally:
            await self.spec.cancel()

    async def revision_info(self, trace: Trace) -> dict[str, Any]:
        expand = snapshot_expand(with_hub_info=self.with_hub_info, scoped=self.cache is not None)
        info = await revision_info(self.client, self.repo_id, self.revision, expand, trace=trace)
        if info is None:
            repo_id = self.repo_id
            raise NetworkError(f"{repo_id}: the revision info is not a JSON object", repo_id=repo_id)
        return info

    # -- wave 2 ------------------------------------------------------------------------------------

    async def after_info(self, info: dict[str, Any]) -> Snapshot:
        """Wave 2: everything the file list asks for, starting as soon as the revision info is in;
        each chain waits only for the speculative read it uses."""
        sha = resolved_sha(info, self.repo_id, self.revision)
        client = self.client
        cc = None
        if self.cache is not None:
            cc = self.cache.commit_for(client.endpoint, self.repo_id, sha, info, client.token_id)
        reads = CommitReads(client, self.repo_id, self.revision, sha, self.spec, cc, self.warnings)
        siblings = [
            s["rfilename"]
            for s in info.get("siblings") or []
            if isinstance(s, dict) and isinstance(s.get("rfilename"), str)
        ]
        layout = plan_layout(siblings, self.subfolder, gguf_file=self.gguf_file, quant=self.quant)
        self.warnings.extend(layout.warnings)
        await reads.look_up([p for p in (layout.config_path, layout.index_path, *layout.companions) if p])
        config, (files, index), companions, sizes = await self.read_all(layout, reads)
        self.trace.join(*self.spec.finished_traces())
        hub_info: dict[str, Any] | None = None
        if self.with_hub_info:
            files, hub_info = _with_hub_info(files, info, sha, siblings, sizes or {})
        if cc is not None and (cc.sha, cc.scope) != self.hint:  # else both markers are stored as they are
            await asyncio.to_thread(
                cc.remember_complete, self.revision, self.subfolder, [f.path for f in files]
            )
        if self.cache is not None and (cache_warning := self.cache.take_warning()) is not None:
            self.warnings.append(cache_warning)
        snapshot = Snapshot(
            repo_id=self.repo_id,
            revision=self.revision,
            commit=sha,
            source="hub",
            endpoint=client.endpoint,
            subfolder=self.subfolder,
            index=index,
            index_path=layout.index_path,
            files=files,
            hub_info=hub_info,
            stats=self.trace.finish(),
            warnings=self.warnings,
        )
        where = f"in {self.subfolder}/ or the root" if self.subfolder else "in the repo"
        return finish_snapshot(snapshot, layout, config, companions, where=where, sizes=sizes)

    async def read_all(
        self, layout: Layout, reads: CommitReads
    ) -> tuple[Any, Weights, list[Any], dict[str, int] | None]:
        """config.json, the weights and the companions in parallel, and with ``list_tree`` the file
        sizes of the tree listing beside them."""
        root = self.trace
        unsized = [p for p in layout.sized if p not in layout.files]
        t_tree = root.fork() if self.list_tree or unsized else None
        tree: asyncio.Task[dict[str, int]] | None = None
        if t_tree is not None:
            tree = asyncio.ensure_future(self.sizes(reads.sha, t_tree, None if self.list_tree else unsized))
        t_config, t_weights = root.fork(), root.fork()
        t_extra = [root.fork() for _ in layout.companions]
        config_path = layout.config_path
        try:
            config, weights, *companions = await run_all(
                reads.json_file(config_path, t_config) if config_path is not None else _nothing(),
                self.weights(layout, reads, t_weights, tree, t_tree),
                *(reads.json_file(p, t) for p, t in zip(layout.companions, t_extra, strict=True)),
            )
            sizes = await tree if tree is not None else None
        finally:
            if tree is not None and not tree.done():
                tree.cancel()
                await asyncio.gather(tree, return_exceptions=True)
        root.join(t_config, t_weights, *t_extra, *([t_tree] if t_tree is not None else []))
        return config, weights, companions, sizes

    async def sizes(self, sha: str, trace: Trace, paths: list[str] | None) -> dict[str, int]:
        """File sizes at the sha: the whole tree listing (``paths`` None), else ``paths-info`` for ``paths``
        (a failure there is a warning: the sizes are then unknown)."""
        if paths is None:
            return await listing.tree_sizes(
                self.client, self.repo_id, self.revision, sha, trace, self.warnings
            )
        try:
            return await listing.paths_sizes(self.client, self.repo_id, self.revision, sha, paths, trace)
        except HubmemError as exc:
            self.warnings.append(f"file sizes unknown: {exc}")
            return {}

    async def weights(
        self,
        layout: Layout,
        reads: CommitReads,
        trace: Trace,
        tree: asyncio.Task[dict[str, int]] | None,
        tree_trace: Trace | None,
    ) -> Weights:
        """Every weight file's header: range reads, or for a sharded ``main`` the one-request route."""
        if layout.gguf is not None:
            return await reads.gguf_headers(layout.files, trace), None
        if layout.index_path is None:
            return await reads.headers(dict.fromkeys(layout.files, DEFAULT_FIRST_READ), trace), None
        index_path = layout.index_path
        index = await reads.index(index_path, trace)
        shards = shards_of(index, index_path)
        files: list[WeightFile] | None = None
        if self.route_ok(reads, shards):
            files = await headers_via_route(
                self.client,
                self.repo_id,
                self.revision,
                reads.sha,
                index_path,
                index,
                shards,
                trace,
                tree,
                tree_trace,
            )
            if files is not None:
                await reads.store_headers(files)
        if files is None:
            files = await reads.headers({p: first_read_size(names) for p, names in shards.items()}, trace)
        return files, index

    def route_ok(self, reads: CommitReads, shards: dict[str, list[str]]) -> bool:
        """The safetensors-metadata route reads ``main`` only, may be missing, and is not needed when
        every shard header is cached."""
        client = self.client
        if not client.use_metadata_route or client.state.metadata_route_unavailable:
            return False
        cc = reads.cache
        if cc is not None and all(cc.has_header(p) for p in shards):
            return False  # every shard header is cached: no request at all
        return self.revision == "main"


async def _nothing() -> None:
    return None


def _with_hub_info(
    files: list[WeightFile], info: dict[str, Any], sha: str, siblings: list[str], sizes: dict[str, int]
) -> tuple[list[WeightFile], dict[str, Any]]:
    """The Hub's own view (``Snapshot.hub_info``), and the files with the listed sizes where the reads
    learnt none."""
    files = [
        msgspec.structs.replace(f, size=sizes[f.path]) if f.size is None and f.path in sizes else f
        for f in files
    ]
    hub_info = {
        "sha": sha,
        "gated": info.get("gated"),
        "safetensors": info.get("safetensors"),
        "siblings": [{"rfilename": p, "size": sizes.get(p)} for p in siblings],
    }
    return files, hub_info


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
    gguf_file: str | None = None,
    quant: str | None = None,
) -> Snapshot:
    """Read config.json, the companions and every safetensors header (or the chosen GGUF model's header:
    ``gguf_file`` / ``quant``, see :mod:`hubmem.fetch.gguf`) of ``repo_id`` at one commit.

    Raises hubmem's typed errors: ``InvalidRepoIdError``, ``RepoNotFoundError``, ``GatedRepoError``,
    ``UnauthorizedError``, ``RevisionNotFoundError``, ``NoSafetensorsError``, ``CorruptHeaderError``,
    ``NetworkError``, ``RateLimitedError``, ``OfflineError``.

    ``cache`` (:class:`hubmem.fetch.cache.store.HeaderCache`): files and headers at the resolved sha are
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
    subfolder = norm_subfolder(subfolder)
    list_tree = True if list_tree is None else list_tree
    fetch = _Fetch(client, repo_id, revision, subfolder, with_hub_info, list_tree, cache, (gguf_file, quant))
    return await fetch.run(speculative)
