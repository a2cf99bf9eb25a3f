"""fetch_snapshot over real sockets against the fake Hub (hubmem.fakehub): Hub + separate CDN origin,
307 to /api/resolve-cache for regular files, the safetensors-metadata route, auth matrix, faults."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hubmem.errors import GatedRepoError, RepoNotFoundError
from hubmem.fakehub.fixtures.layout import NOGATE_TOKEN, READER_TOKEN, RepoWriter, write_tokens
from hubmem.fakehub.server import FakeHub
from hubmem.fetch.http.client import HubClient
from hubmem.fetch.hub import fetch_snapshot
from hubmem.formats.safetensors import check_data_size
from hubmem.snapshot import Snapshot

from support.minihub import expected_layout, header_length_of, sharded_files, st_bytes, tensors

pytestmark = pytest.mark.e2e

SHA = "1" * 40
PR_SHA = "2" * 40
CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4}


async def no_sleep(seconds: float) -> None:
    return None


def build(tmp: Path) -> dict[str, dict[str, bytes]]:
    """Three repos in the fixture layout; returns repo -> path -> the real bytes the library wrote."""
    write_tokens(tmp)
    out: dict[str, dict[str, bytes]] = {}

    single = {"model.safetensors": st_bytes(tensors(3), header_length=99_995)}
    w = RepoWriter(tmp, "e2e/single", sha=SHA, refs={"main": SHA, "refs/pr/1": PR_SHA})
    w.add_json("config.json", CONFIG)
    w.add_file("quantize_config.json", json.dumps({"bits": 4}))
    for path, raw in single.items():
        w.add_safetensors(path, raw)
    w.write()
    out["e2e/single"] = single

    sharded = {
        k: v
        for k, v in sharded_files(
            [tensors(2, "embed"), tensors(30, "model.layers"), tensors(4, "lm")]
        ).items()
        if k.endswith(".safetensors")
    }
    index = sharded_files([tensors(2, "embed"), tensors(30, "model.layers"), tensors(4, "lm")])[
        "model.safetensors.index.json"
    ]
    w = RepoWriter(tmp, "e2e/sharded", sha=SHA)
    w.add_json("config.json", CONFIG)
    w.add_file("model.safetensors.index.json", index)
    for path, raw in sharded.items():
        w.add_safetensors(path, raw)
    w.write()
    out["e2e/sharded"] = sharded

    gated = {"model.safetensors": st_bytes({"w": np.ones((4, 4), dtype=np.float16)})}
    w = RepoWriter(tmp, "e2e/gated", sha=SHA, gated="manual")
    w.add_json("config.json", CONFIG)
    w.add_safetensors("model.safetensors", gated["model.safetensors"])
    w.write()
    out["e2e/gated"] = gated
    return out


@pytest.fixture
def hub_and_files(
    tmp_path: Path, make_fake_hub: Callable[..., FakeHub]
) -> tuple[FakeHub, dict[str, dict[str, bytes]]]:
    files = build(tmp_path)
    return make_fake_hub(tmp_path), files


async def fetch(hub: FakeHub, repo: str, token: str | bool = False, **kw: object) -> Snapshot:
    async with HubClient(endpoint=hub.endpoint, token=token, sleep=no_sleep, backoff_base=0.001) as c:
        return await fetch_snapshot(c, repo, **kw)  # type: ignore[arg-type]


def check(s: Snapshot, files: dict[str, bytes]) -> None:
    assert sorted(f.path for f in s.files) == sorted(files)
    for f in s.files:
        raw = files[f.path]
        assert f.header_length == header_length_of(raw) and f.size == len(raw)
        check_data_size(f.safetensors, f.size - 8 - f.header_length, file=f.path)
        got = f.safetensors.tensors
        assert {t.name: (t.shape, t.nbytes) for t in got} == expected_layout(raw)


async def test_single_file_with_a_99995_byte_header(
    hub_and_files: tuple[FakeHub, dict[str, dict[str, bytes]]],
) -> None:
    hub, files = hub_and_files
    s = await fetch(hub, "e2e/single", token=READER_TOKEN)
    assert s.commit == SHA and s.config == CONFIG and s.extra == {"quantize_config.json": {"bits": 4}}
    check(s, files["e2e/single"])
    assert hub.log.auth_leaks() == []
    cdn = hub.log.filter(origin="cdn")
    assert len(cdn) == 2  # first read of 100,000 bytes + the 3 missing bytes of the 100,003-byte header


async def test_pr_revision(hub_and_files: tuple[FakeHub, dict[str, dict[str, bytes]]]) -> None:
    hub, files = hub_and_files
    s = await fetch(hub, "e2e/single", revision="refs/pr/1")
    assert s.commit == PR_SHA and s.revision == "refs/pr/1"
    check(s, files["e2e/single"])
    assert hub.log.filter(path="/revision/refs%2Fpr%2F1")


async def test_sharded_on_main_uses_the_metadata_route(
    hub_and_files: tuple[FakeHub, dict[str, dict[str, bytes]]],
) -> None:
    hub, files = hub_and_files
    s = await fetch(hub, "e2e/sharded", token=READER_TOKEN)
    check(s, files["e2e/sharded"])
    assert hub.log.filter(path="/safetensors-metadata/") and not hub.log.filter(origin="cdn")
    assert s.index is not None and s.index_path == "model.safetensors.index.json"


async def test_sharded_at_a_sha_uses_concurrent_range_reads(
    hub_and_files: tuple[FakeHub, dict[str, dict[str, bytes]]],
) -> None:
    hub, files = hub_and_files
    s = await fetch(hub, "e2e/sharded", token=READER_TOKEN, revision=SHA)
    check(s, files["e2e/sharded"])
    assert len(hub.log.filter(origin="cdn")) == len(files["e2e/sharded"])  # one read per shard
    assert hub.log.auth_leaks() == []


async def test_gated_matrix(hub_and_files: tuple[FakeHub, dict[str, dict[str, bytes]]]) -> None:
    hub, files = hub_and_files
    with pytest.raises(GatedRepoError) as anon:
        await fetch(hub, "e2e/gated")
    assert anon.value.status == 401
    with pytest.raises(GatedRepoError) as nogate:
        await fetch(hub, "e2e/gated", token=NOGATE_TOKEN)
    assert nogate.value.status == 403
    s = await fetch(hub, "e2e/gated", token=READER_TOKEN)
    check(s, files["e2e/gated"])
    with pytest.raises(RepoNotFoundError):
        await fetch(hub, "e2e/missing")
    assert hub.log.auth_leaks() == []


async def test_faults_are_retried(hub_and_files: tuple[FakeHub, dict[str, dict[str, bytes]]]) -> None:
    hub, files = hub_and_files
    hub.inject(429, 1, match="/revision/")
    hub.inject(503, 1, origin="cdn")
    hub.inject("drop", 1, match="config.json")
    s = await fetch(hub, "e2e/single", token=READER_TOKEN)
    check(s, files["e2e/single"])
    assert {e.fault for e in hub.log.entries if e.fault} >= {"429", "503"}


async def test_header_length_over_the_limit(tmp_path: Path, make_fake_hub: Callable[..., FakeHub]) -> None:
    from hubmem.errors import CorruptHeaderError

    write_tokens(tmp_path)
    w = RepoWriter(tmp_path, "e2e/huge", sha=SHA)
    w.add_synthetic_header("model.safetensors", 25_000_001)  # the u64 prefix claims 25,000,001 bytes
    w.write()
    hub = make_fake_hub(tmp_path)
    with pytest.raises(CorruptHeaderError) as info:
        await fetch(hub, "e2e/huge")
    assert "25,000,001" in str(info.value)
    assert len(hub.log.filter(origin="cdn")) == 1  # refused after the first read, no second one
