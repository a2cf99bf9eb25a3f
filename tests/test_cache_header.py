"""The on-disk header cache: a re-fetch costs only the revision resolution, a moved branch is re-read at its
new commit, gated content stays scoped to the token, LRU eviction under a size cap, damaged entries,
several processes at once, and the CLI options."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubmem.errors import GatedRepoError
from hubmem.fakehub.fixtures.layout import READER_TOKEN, write_tokens
from hubmem.fakehub.server import FakeHub
from hubmem.fetch.cache.store import HeaderCache
from hubmem.fetch.http.client import HubClient
from hubmem.fetch.hub import fetch_snapshot
from hubmem.formats.safetensors import parse_header
from hubmem.snapshot import Snapshot, WeightFile

from support.scan_samples import Dims, write_llama

SHA1, SHA2 = "1" * 40, "2" * 40


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_tokens(tmp_path)
    write_llama(tmp_path, "org/single")
    write_llama(tmp_path, "org/sharded", shards=3)
    write_llama(tmp_path, "org/gated", gated="manual")
    return tmp_path


def same_content(a: Snapshot, b: Snapshot) -> None:
    assert (a.commit, a.config, a.index, a.index_path, a.extra) == (
        b.commit,
        b.config,
        b.index,
        b.index_path,
        b.extra,
    )
    assert [(f.path, f.header_length, f.header, f.size) for f in a.files] == [
        (f.path, f.header_length, f.header, f.size) for f in b.files
    ]


@pytest.mark.parametrize("repo_id", ["org/single", "org/sharded"])
async def test_refetch_costs_only_the_revision_request(
    repo_id: str, root: Path, tmp_path: Path, make_fake_hub: Callable[..., FakeHub]
) -> None:
    hub = make_fake_hub(root)
    cache = HeaderCache(tmp_path / "cache")
    async with HubClient(endpoint=hub.endpoint, token=False) as client:
        cold = await fetch_snapshot(client, repo_id, cache=cache)
        cold_requests = len(hub.log)
        hub.log.reset()
        writes = cache.stats.writes
        warm = await fetch_snapshot(client, repo_id, cache=cache)
    assert cold_requests >= 3 and cold.stats.cache_hits == 0
    assert writes > 0 and cache.stats.writes == writes  # the warm fetch rewrites nothing, markers included
    assert [e.path for e in hub.log] == [f"/api/models/{repo_id}/revision/main"]
    assert warm.stats.requests == 1 and warm.stats.cache_hits == len(warm.files) + 1 + (
        warm.index is not None
    )
    same_content(cold, warm)


async def test_warm_fetch_reads_the_cache_in_two_thread_hops(
    root: Path, tmp_path: Path, make_fake_hub: Callable[..., FakeHub], monkeypatch: pytest.MonkeyPatch
) -> None:
    """config.json and the index in one hop, the three shard headers in another (not one hop per file)."""
    hub = make_fake_hub(root)
    cache = HeaderCache(tmp_path / "cache")
    hops: list[str] = []
    real = asyncio.to_thread

    async def counted(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(fn, "__name__", "?"))
        return await real(fn, *args, **kwargs)

    async with HubClient(endpoint=hub.endpoint, token=False) as client:
        cold = await fetch_snapshot(client, "org/sharded", cache=cache)
        monkeypatch.setattr(asyncio, "to_thread", counted)
        warm = await fetch_snapshot(client, "org/sharded", cache=cache)
    assert len(cold.files) == 3 and warm.stats.cache_hits == 3 + 2  # the headers, config.json, the index
    assert hops == ["_get_files", "_get_headers"]
    same_content(cold, warm)


async def test_uncached_fetch_equals_cached_one_and_route_is_skipped(
    root: Path, tmp_path: Path, make_fake_hub: Callable[..., FakeHub]
) -> None:
    hub = make_fake_hub(root)
    async with HubClient(endpoint=hub.endpoint, token=False) as client:
        plain = await fetch_snapshot(client, "org/sharded")
        cache = HeaderCache(tmp_path / "cache")
        await fetch_snapshot(client, "org/sharded", cache=cache)
        hub.log.reset()
        again = await fetch_snapshot(client, "org/sharded", cache=cache)
    same_content(plain, again)
    assert hub.log.count(path="safetensors-metadata") == 0 and hub.log.count(origin="cdn") == 0


async def test_moved_branch_is_read_at_its_new_commit(
    root: Path, tmp_path: Path, make_fake_hub: Callable[..., FakeHub]
) -> None:
    write_llama(root, "org/moving", sha=SHA1)
    hub = make_fake_hub(root)
    cache = HeaderCache(tmp_path / "cache")
    async with HubClient(endpoint=hub.endpoint, token=False) as client:
        first = await fetch_snapshot(client, "org/moving", cache=cache)
        moved = write_llama(root, "org/moving", sha=SHA2, dims=Dims(layers=4))
        hub.reload()
        hub.log.reset()
        second = await fetch_snapshot(client, "org/moving", cache=cache)
        resolves = [e.path for e in hub.log if "/resolve/" in e.path]
        hub.log.reset()
        third = await fetch_snapshot(client, "org/moving", cache=cache)
    assert first.commit == SHA1 and second.commit == SHA2 and third.commit == SHA2
    assert len(hub.log) == 1  # the second fetch moved the hint to SHA2: the third is served from the cache
    n = sum(len(f.tensor_names()) for f in second.files)
    assert n == 1 + 9 * 4 + 2  # embed, 9 tensors per layer, norm, head
    assert second.files[0].size == moved.file_sizes["model.safetensors"]
    # the hint said "complete at SHA1", so no speculative read at "main": every file read at the new sha
    assert resolves and all(SHA2 in p for p in resolves)


async def test_gated_content_is_not_served_to_a_caller_without_access(
    root: Path, tmp_path: Path, make_fake_hub: Callable[..., FakeHub]
) -> None:
    hub = make_fake_hub(root)
    cache = HeaderCache(tmp_path / "cache")
    async with HubClient(endpoint=hub.endpoint, token=READER_TOKEN) as reader:
        await fetch_snapshot(reader, "org/gated", cache=cache)
        hub.log.reset()
        again = await fetch_snapshot(reader, "org/gated", cache=cache)
        assert again.stats.requests == 1  # the same token: served from the cache
    async with HubClient(endpoint=hub.endpoint, token=False) as anonymous:
        with pytest.raises(GatedRepoError):
            await fetch_snapshot(anonymous, "org/gated", cache=cache)


def test_put_get_damaged_and_foreign_entries(tmp_path: Path) -> None:
    cache = HeaderCache(tmp_path)
    key = cache.key("https://hub", "org/x", SHA1, "", "config.json")
    assert cache.get(key) is None
    cache.put(key, {"kind": "file", "text": "{}"})
    assert cache.get(key) == {"kind": "file", "text": "{}"}
    file = cache._file(key)
    file.write_bytes(b'{"key": ["trunc')  # a torn entry (power loss without fsync)
    assert cache.get(key) is None and not file.exists()
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps({"key": ["other"], "value": {"kind": "file", "text": "x"}}))
    assert cache.get(key) is None
    cc = cache.commit("https://hub", "org/x", SHA1)
    cc.put_file("bin.json", b"\xff\xfe not utf-8")
    assert cc.get_file("bin.json") == b"\xff\xfe not utf-8"
    assert not list(tmp_path.rglob(".tmp-*"))  # no temporary file left behind


def test_size_cap_evicts_least_recently_used(tmp_path: Path) -> None:
    cache = HeaderCache(tmp_path, max_bytes=20_000)
    cc = cache.commit("e", "org/x", SHA1)
    payload = "x" * 1000
    cc.put_file("keep", payload.encode())
    for i in range(40):
        cc.get_file("keep")  # recently used: survives every eviction
        cc.put_file(f"f{i}", payload.encode())
    assert cache.size_on_disk() <= 20_000
    assert cache.stats.evicted > 0
    assert cc.get_file("keep") == payload.encode()
    assert cc.get_file("f0") is None  # the oldest went first
    assert cc.get_file("f39") == payload.encode()


def _hammer(root: str, worker: int, rounds: int) -> int:
    cache = HeaderCache(root, max_bytes=60_000)
    cc = cache.commit("e", "org/x", SHA1)
    bad = 0
    for i in range(rounds):
        name = f"h{(i * 7 + worker) % 50}"
        got = cc.get_header(name)
        if got is not None and (
            (got.safetensors.metadata or {}).get("pad") != "p" * 900
            or got.safetensors.tensors[0].shape != (int(name[1:]), 4)
            or got.size != 8 + 123 + 8 * int(name[1:])
        ):
            bad += 1
        k = int(name[1:])
        stored = {
            "__metadata__": {"pad": "p" * 900, "round": str(i)},
            "w": {"dtype": "F16", "shape": [k, 4], "data_offsets": [0, 8 * k]},
        }
        cc.put_header(WeightFile(name, 123, parse_header(stored), 8 + 123 + 8 * k))
    return bad


@pytest.mark.e2e
def test_concurrent_processes_never_see_a_partial_entry(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        bad = pool.starmap(_hammer, [(str(tmp_path), w, 150) for w in range(4)])
    assert bad == [0, 0, 0, 0]
    assert HeaderCache(tmp_path).size_on_disk() <= 60_000 + 4 * 2_000  # evictions kept it near the cap


@pytest.mark.e2e
def test_cli_cache_options(root: Path, tmp_path: Path, make_fake_hub: Callable[..., FakeHub]) -> None:
    hub = make_fake_hub(root)
    env = dict(os.environ, HF_ENDPOINT=hub.endpoint, HF_TOKEN="", HUBMEM_CACHE=str(tmp_path / "env-cache"))

    def report(*args: str) -> dict[str, object]:
        p = subprocess.run(
            [sys.executable, "-m", "hubmem", "org/sharded", "--json", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert p.returncode == 0, p.stderr
        fetch = json.loads(p.stdout)["fetch"]
        assert isinstance(fetch, dict)
        return fetch

    assert report("--cache-dir", str(tmp_path / "c"))["requests"] > 1
    warm = report("--cache-dir", str(tmp_path / "c"))
    assert warm["requests"] == 1 and warm["cache_hits"] == 5  # config, index, 3 shard headers
    assert report("--no-cache")["requests"] > 1
    assert not (tmp_path / "env-cache").exists()  # --cache-dir and --no-cache left $HUBMEM_CACHE alone
    report()
    assert report()["requests"] == 1 and (tmp_path / "env-cache").is_dir()
