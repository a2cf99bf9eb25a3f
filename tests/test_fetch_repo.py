"""fetch_snapshot against the in-memory Hub: consistency, layouts, round trips, the metadata route."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import numpy as np
import pytest

from hubmem.fetch.http.client import HubClient
from hubmem.fetch.hub import fetch_snapshot
from hubmem.formats.safetensors import check_data_size
from hubmem.snapshot import Snapshot

from support.minihub import (
    CDN,
    CONFIG,
    ENDPOINT,
    GOOD_TOKEN,
    FakeTime,
    MiniHub,
    config_bytes,
    expected_layout,
    header_length_of,
    sharded_files,
    st_bytes,
    tensors,
)
from support.mockhttp import mock_http

SHA = "a" * 40
NEW = "b" * 40
PR = "c" * 40


@pytest.fixture
def hub() -> Iterator[MiniHub]:
    h = MiniHub()
    with mock_http() as router:
        h.install(router)
        yield h


@pytest.fixture
def ft() -> FakeTime:
    return FakeTime()


def client(ft: FakeTime, **kw: object) -> HubClient:
    kw.setdefault("token", GOOD_TOKEN)
    return HubClient(endpoint=ENDPOINT, sleep=ft.sleep, clock=ft.clock, **kw)  # type: ignore[arg-type]


async def snap(ft: FakeTime, repo_id: str, **kw: object) -> Snapshot:
    async with client(ft) as c:
        return await fetch_snapshot(c, repo_id, **kw)  # type: ignore[arg-type]


def assert_files_match(s: Snapshot, files: dict[str, bytes]) -> None:
    """Every WeightFile agrees with the bytes the safetensors library wrote."""
    for f in s.files:
        raw = files[f.path]
        assert f.header_length == header_length_of(raw)
        assert f.size == len(raw)
        check_data_size(f.safetensors, f.size - 8 - f.header_length, file=f.path)
        got = f.safetensors.tensors
        assert {t.name: (t.shape, t.nbytes) for t in got} == expected_layout(raw)


# -- single file -----------------------------------------------------------------------------------------


async def test_single_file_repo(hub: MiniHub, ft: FakeTime) -> None:
    files = {"config.json": config_bytes(), "model.safetensors": st_bytes(tensors(3)), "README.md": b"# hi"}
    hub.add("org/single", files, sha=SHA)
    s = await snap(ft, "org/single")
    assert s.commit == SHA and s.revision == "main" and s.source == "hub" and s.endpoint == ENDPOINT
    assert s.config == CONFIG
    assert [f.path for f in s.files] == ["model.safetensors"] and s.index is None
    assert_files_match(s, files)
    assert s.warnings == [] and s.hub_info is None
    # one wave of parallel requests; the only sequential pair is the 302 + 206 of the header read
    assert s.stats.round_trips == 2
    assert s.stats.requests == len(hub.seen) == 5
    assert not hub.calls(contains="/tree/")  # no tree listing when not asked for hub info


async def test_commit_reported_is_the_resolved_one_and_reads_use_it(hub: MiniHub, ft: FakeTime) -> None:
    """The branch moves between the revision info and the speculative reads: those answers carry
    another X-Repo-Commit, so every file is read again at the sha the revision info reported."""
    old = {"config.json": config_bytes(hidden_size=4), "model.safetensors": st_bytes(tensors(2))}
    new = {"config.json": config_bytes(hidden_size=8), "model.safetensors": st_bytes(tensors(5))}
    repo = hub.add("org/moving", old, sha=SHA, refs={"main": NEW})
    repo.commits[NEW] = new
    repo.info_sha = SHA  # the revision info answered before the push
    s = await snap(ft, "org/moving")
    assert s.commit == SHA
    assert s.config is not None and s.config["hidden_size"] == 4
    assert_files_match(s, old)
    reread = [c.raw_path for c in hub.calls(host="hub.test", contains="/resolve/")]
    assert f"/org/moving/resolve/{SHA}/config.json" in reread
    assert f"/org/moving/resolve/{SHA}/model.safetensors" in reread


async def test_revision_given_as_sha_is_read_directly(hub: MiniHub, ft: FakeTime) -> None:
    files = {"config.json": config_bytes(), "model.safetensors": st_bytes(tensors(1))}
    hub.add("org/s", files, sha=SHA)
    s = await snap(ft, "org/s", revision=SHA)
    assert s.commit == SHA and s.revision == SHA
    assert all(SHA in c.raw_path for c in hub.calls(host="hub.test"))


async def test_pr_revision_is_one_encoded_path_segment(hub: MiniHub, ft: FakeTime) -> None:
    main = {"config.json": config_bytes(), "model.safetensors": st_bytes(tensors(1))}
    pr = {"config.json": config_bytes(hidden_size=16), "model.safetensors": st_bytes(tensors(4))}
    repo = hub.add("org/pr", main, sha=SHA, refs={"main": SHA, "refs/pr/1": PR})
    repo.commits[PR] = pr
    s = await snap(ft, "org/pr", revision="refs/pr/1")
    assert s.revision == "refs/pr/1" and s.commit == PR
    assert s.config is not None and s.config["hidden_size"] == 16
    assert_files_match(s, pr)
    paths = [c.raw_path for c in hub.calls(host="hub.test")]
    assert "/api/models/org/pr/revision/refs%2Fpr%2F1?expand=sha&expand=siblings" in paths
    assert "/org/pr/resolve/refs%2Fpr%2F1/config.json" in paths
    assert not any("refs/pr/1" in p for p in paths)


async def test_non_speculative_mode_reads_everything_at_the_sha(hub: MiniHub, ft: FakeTime) -> None:
    files = {"config.json": config_bytes(), "model.safetensors": st_bytes(tensors(2))}
    hub.add("org/ns", files, sha=SHA)
    s = await snap(ft, "org/ns", speculative=False)
    assert_files_match(s, files)
    resolves = [c.raw_path for c in hub.calls(host="hub.test", contains="/resolve/")]
    assert resolves and all(f"/resolve/{SHA}/" in p for p in resolves)
    assert not hub.calls(contains="model.safetensors.index.json")  # nothing speculative
    assert s.stats.round_trips == 3


# -- sharded ---------------------------------------------------------------------------------------------


def shard_groups() -> list[dict[str, np.ndarray]]:
    # different tensor counts (and name lengths) per shard, so first-read sizes differ
    return [
        tensors(2, "model.embed"),
        tensors(40, "model.layers.with.a.rather.long.prefix"),
        tensors(7, "lm"),
    ]


async def test_sharded_headers_read_concurrently_with_first_read_sized_from_the_index(
    hub: MiniHub, ft: FakeTime
) -> None:
    files = {"config.json": config_bytes(), **sharded_files(shard_groups())}
    hub.add("org/sharded", files, sha=SHA)
    shards = sorted(p for p in files if p.endswith(".safetensors"))
    arrived = 0
    all_in = asyncio.Event()

    async def gate() -> None:  # every CDN answer waits until all shard reads are in flight
        nonlocal arrived
        arrived += 1
        if arrived == len(shards):
            all_in.set()
        await asyncio.wait_for(all_in.wait(), timeout=5)

    hub.cdn_gate = gate
    s = await snap(ft, "org/sharded", revision=SHA)  # not "main": no metadata route
    assert [f.path for f in s.files] == shards
    assert s.index_path == "model.safetensors.index.json" and s.index is not None
    assert_files_match(s, files)
    cdn = hub.calls(host="cdn.test")
    assert len(cdn) == len(shards)  # one range read per shard, no second reads
    sizes = {}
    for call in cdn:
        path = call.raw_path.split(f"{SHA}/", 1)[1].split("?")[0]
        start, end = call.headers["range"].removeprefix("bytes=").split("-")
        sizes[path] = int(end) + 1
        assert start == "0"
        assert sizes[path] >= 8 + header_length_of(files[path])  # enough for the whole header
        assert sizes[path] < 100_000  # sized from the index, not the default
    small, big, mid = shards
    assert sizes[big] > sizes[mid] > sizes[small]
    assert s.stats.round_trips == 3


async def test_sharded_reads_use_the_sha_not_the_branch(hub: MiniHub, ft: FakeTime) -> None:
    files = {"config.json": config_bytes(), **sharded_files(shard_groups())}
    hub.add("org/sharded", files, sha=SHA)
    hub.route = False
    s = await snap(ft, "org/sharded")
    assert s.commit == SHA
    shard_reads = [c.raw_path for c in hub.calls(host="hub.test", contains="-of-")]
    assert len(shard_reads) == 3 and all(f"/resolve/{SHA}/" in p for p in shard_reads)


async def test_metadata_route_gives_all_headers_in_one_request_with_exact_n(
    hub: MiniHub, ft: FakeTime
) -> None:
    files = {"config.json": config_bytes(), **sharded_files(shard_groups())}
    hub.add("org/sharded", files, sha=SHA)
    s = await snap(ft, "org/sharded")
    assert_files_match(s, files)  # N derived from the sizes equals the N in the files
    assert len(hub.calls(contains="/safetensors-metadata/model.safetensors.index.json")) == 1
    (paths_info,) = hub.calls(contains=f"/paths-info/{SHA}")
    assert paths_info.method == "POST"
    assert not hub.calls(host="cdn.test") and not hub.calls(contains="-of-")
    assert s.stats.round_trips == 2


async def test_metadata_route_missing_falls_back_and_is_not_asked_again(hub: MiniHub, ft: FakeTime) -> None:
    files = {"config.json": config_bytes(), **sharded_files(shard_groups())}
    hub.add("org/a", files, sha=SHA)
    hub.add("org/b", files, sha=SHA)
    hub.route = False
    async with client(ft) as c:
        a = await fetch_snapshot(c, "org/a")
        b = await fetch_snapshot(c, "org/b")
    assert_files_match(a, files)
    assert_files_match(b, files)
    assert len(hub.calls(contains="/safetensors-metadata/")) == 1  # org/b went straight to range reads
    assert a.stats.round_trips == 4 and b.stats.round_trips == 3


async def test_metadata_route_from_a_newer_commit_is_rejected(hub: MiniHub, ft: FakeTime) -> None:
    """The route reads main at request time; if main moved (other tensors), range reads at the sha win."""
    old = {"config.json": config_bytes(), **sharded_files(shard_groups())}
    new = {
        "config.json": config_bytes(),
        **sharded_files([tensors(3, "renamed"), tensors(1, "x"), tensors(2, "y")]),
    }
    repo = hub.add("org/m", old, sha=SHA, refs={"main": NEW})
    repo.commits[NEW] = new
    repo.info_sha = SHA
    s = await snap(ft, "org/m")
    assert s.commit == SHA
    assert_files_match(s, old)
    assert len(hub.calls(host="cdn.test")) == 3


async def test_metadata_route_not_used_off_main(hub: MiniHub, ft: FakeTime) -> None:
    files = {"config.json": config_bytes(), **sharded_files(shard_groups())}
    hub.add("org/t", files, sha=SHA, refs={"main": SHA, "v1.0": SHA})
    await snap(ft, "org/t", revision="v1.0")
    assert not hub.calls(contains="/safetensors-metadata/")


async def test_index_listing_a_missing_shard_is_an_error(hub: MiniHub, ft: FakeTime) -> None:
    from hubmem.errors import EntryNotFoundError, RepoNotFoundError

    files = {"config.json": config_bytes(), **sharded_files(shard_groups())}
    del files["model-00002-of-00003.safetensors"]
    hub.add("org/broken", files, sha=SHA)
    hub.route = False
    with pytest.raises(EntryNotFoundError) as info:
        await snap(ft, "org/broken")
    assert isinstance(info.value, RepoNotFoundError)
    assert "model-00002-of-00003.safetensors" in str(info.value)


# -- layouts ---------------------------------------------------------------------------------------------


async def test_consolidated_file_and_params_json(hub: MiniHub, ft: FakeTime) -> None:
    params = {"dim": 4, "n_layers": 1}
    files = {"params.json": json.dumps(params).encode(), "consolidated.safetensors": st_bytes(tensors(2))}
    hub.add("mistralai/x", files, sha=SHA)
    s = await snap(ft, "mistralai/x")
    assert [f.path for f in s.files] == ["consolidated.safetensors"]
    assert_files_match(s, files)
    assert s.extra == {"params.json": params}
    assert s.config is None and any("config.json" in w for w in s.warnings)


async def test_companions_are_read_into_extra(hub: MiniHub, ft: FakeTime) -> None:
    quant = {"bits": 4, "group_size": 128}
    hf_quant = {"quantization": {"quant_algo": "FP8"}}
    files = {
        "config.json": config_bytes(),
        "model.safetensors": st_bytes(tensors(1)),
        "quantize_config.json": json.dumps(quant).encode(),
        "hf_quant_config.json": json.dumps(hf_quant).encode(),
    }
    hub.add("org/q", files, sha=SHA)
    s = await snap(ft, "org/q")
    assert s.extra == {"quantize_config.json": quant, "hf_quant_config.json": hf_quant}


async def test_subfolder_weights_with_config_in_subfolder_then_root(hub: MiniHub, ft: FakeTime) -> None:
    sub = st_bytes(tensors(3, "transformer_blocks"))
    files = {
        "config.json": config_bytes(hidden_size=99),
        "transformer/diffusion_pytorch_model.safetensors": sub,
        "vae/config.json": b'{"latent_channels": 4}',
        "vae/diffusion_pytorch_model.safetensors": st_bytes(tensors(1, "vae")),
    }
    hub.add("org/diff", files, sha=SHA)
    s = await snap(ft, "org/diff", subfolder="transformer")
    assert s.subfolder == "transformer"
    assert [f.path for f in s.files] == ["transformer/diffusion_pytorch_model.safetensors"]
    assert_files_match(s, files)
    assert s.config is not None and s.config["hidden_size"] == 99  # no transformer/config.json: the root one
    s = await snap(ft, "org/diff", subfolder="/vae/")
    assert s.config == {"latent_channels": 4}


async def test_sharded_subfolder_index(hub: MiniHub, ft: FakeTime) -> None:
    files = sharded_files([tensors(2, "a"), tensors(3, "b")], prefix="text_encoder/")
    hub.add("org/enc", files, sha=SHA)
    s = await snap(ft, "org/enc", subfolder="text_encoder")
    assert s.index_path == "text_encoder/model.safetensors.index.json"
    assert [f.path for f in s.files] == [
        "text_encoder/model-00001-of-00002.safetensors",
        "text_encoder/model-00002-of-00002.safetensors",
    ]
    assert_files_match(s, files)


async def test_variant_copies_are_not_double_counted(hub: MiniHub, ft: FakeTime) -> None:
    files = {
        "diffusion_pytorch_model.safetensors": st_bytes(tensors(2)),
        "diffusion_pytorch_model.fp16.safetensors": st_bytes(
            {k: v.astype(np.float16) for k, v in tensors(2).items()}
        ),
    }
    hub.add("org/v", files, sha=SHA)
    s = await snap(ft, "org/v")
    assert [f.path for f in s.files] == ["diffusion_pytorch_model.safetensors"]
    assert any("variant" in w for w in s.warnings)


async def test_with_hub_info_lists_the_tree_and_fills_hub_info(hub: MiniHub, ft: FakeTime) -> None:
    files = {"config.json": config_bytes(), **sharded_files(shard_groups()), "README.md": b"x" * 10}
    hub.add("org/info", files, sha=SHA, gated=False)
    hub.tree_page = 2  # force Link pagination
    s = await snap(ft, "org/info", with_hub_info=True)
    assert s.hub_info is not None
    sizes = {e["rfilename"]: e["size"] for e in s.hub_info["siblings"]}
    assert sizes == {p: len(b) for p, b in files.items()}
    expected_params = sum(int(a.size) for g in shard_groups() for a in g.values())
    assert s.hub_info["safetensors"] == {"parameters": {"F32": expected_params}, "total": expected_params}
    assert s.hub_info["gated"] is False and s.hub_info["sha"] == SHA
    assert len(hub.calls(contains="/tree/")) == 3  # 6 entries in pages of 2, via rel="next"
    assert not hub.calls(contains="/paths-info/")  # the tree already gave the sizes
    assert_files_match(s, files)


async def test_cdn_never_sees_the_token_during_a_full_fetch(hub: MiniHub, ft: FakeTime) -> None:
    files = {"config.json": config_bytes(), **sharded_files(shard_groups())}
    hub.add("org/tok", files, sha=SHA)
    hub.route = False
    s = await snap(ft, "org/tok")
    assert_files_match(s, files)  # the CDN answers 400 to any request with Authorization
    cdn = hub.calls(host="cdn.test")
    assert cdn and all("authorization" not in c.headers for c in cdn)
    assert all(c.headers.get("authorization") == f"Bearer {GOOD_TOKEN}" for c in hub.calls(host="hub.test"))
    assert all(c.url.startswith(CDN) for c in cdn)


async def test_companion_reads_overlap_the_speculative_header_read(hub: MiniHub, ft: FakeTime) -> None:
    """Wave 2 starts when the revision info is in: the companion read (1 hop after the info) runs while
    the 150,000-byte header needs 302 + 206 + a second 206 from the CDN, so the chain stays 3 deep."""
    files = {
        "config.json": config_bytes(),
        "params.json": b'{"dim": 4}',
        "model.safetensors": st_bytes(tensors(2), header_length=150_000),
    }
    hub.add("org/overlap", files, sha=SHA)
    s = await snap(ft, "org/overlap")
    assert_files_match(s, files)
    assert s.extra == {"params.json": {"dim": 4}}
    assert len(hub.calls(host="cdn.test")) == 2
    assert s.stats.round_trips == 3
