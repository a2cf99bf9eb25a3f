"""Cross-checks end to end (fake Hub, real fetcher, pipeline) with a real mismatch for every check, and the
repo-name parser against published model sizes (corpus README / model cards).

Every expected number is computed here from the arrays written (tests/scan_samples.py) or taken from a
published figure; none is copied from hubmem's output."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hubmem.check.name import check_name_size, parse_size_claims
from hubmem.errors import CorruptHeaderError
from hubmem.fakehub.fixtures.layout import READER_TOKEN, write_tokens
from hubmem.fakehub.server import FakeHub
from hubmem.pipeline import analyze_async
from hubmem.schema.check import CHECK_NAMES, CheckItem
from hubmem.schema.report import Report
from hubmem.schema.weights import ComponentWeights, MoEInfo, WeightsReport

from support.paths import FIXTURES, repo_meta
from support.scan_samples import Dims, Expected, llama_tensors, write_llama

pytestmark = pytest.mark.e2e
D = Dims()
GHOST = "model.layers.9.mlp.ghost.weight"


def layer_params(d: Dims) -> int:
    """One Llama decoder layer from its shapes: q, k, v, o, gate/up/down, two norms."""
    attn = d.hidden * d.heads * d.head_dim * 2 + d.hidden * d.kv_heads * d.head_dim * 2
    return attn + 3 * d.hidden * d.mlp + 2 * d.hidden


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Expected]]:
    root = tmp_path_factory.mktemp("checkfix")
    write_tokens(root)
    out: dict[str, Expected] = {}
    out["clean"] = write_llama(root, "hubmem-test/clean", shards=2)
    # the index names a tensor no shard holds, and its total_size is 4096 bytes off
    real = write_llama(root, "hubmem-test/ghost-probe", shards=2)
    out["ghost"] = write_llama(
        root,
        "hubmem-test/ghost",
        shards=2,
        weight_map_edit={GHOST: "model-00001-of-00002.safetensors"},
        index_metadata={"total_size": real.total_bytes + 4096},
    )
    # a tensor stored twice, one left out of the index, one listed under the wrong shard
    out["dupes"] = write_llama(
        root,
        "hubmem-test/dupes",
        shards=3,
        duplicate="model.embed_tokens.weight",
        weight_map_edit={
            "model.norm.weight": None,
            "model.layers.0.mlp.up_proj.weight": "model-00003-of-00003.safetensors",
        },
    )
    params = sum(a.size for a in llama_tensors(D).values())
    nbytes = sum(a.nbytes for a in llama_tensors(D).values())
    out["params"] = write_llama(
        root,
        "hubmem-test/params",
        shards=2,
        index_metadata={"total_size": nbytes, "total_parameters": params + 7},
    )
    out["params-ok"] = write_llama(
        root,
        "hubmem-test/params-ok",
        shards=2,
        index_metadata={"total_size": nbytes, "total_parameters": params},
    )
    out["padded"] = write_llama(root, "hubmem-test/padded", size_padding=64)
    out["hub-bogus"] = write_llama(
        root, "hubmem-test/hub-bogus", hub={"safetensors": {"parameters": {"F16": 123}, "total": 123}}
    )
    out["hub-dtype"] = write_llama(
        root, "hubmem-test/hub-dtype", hub={"safetensors": {"parameters": {"F32": params}, "total": params}}
    )
    out["config"] = write_llama(root, "hubmem-test/config", config=D.config(num_hidden_layers=D.layers + 1))
    out["name-bad"] = write_llama(root, "hubmem-test/tiny-7B")
    out["name-ok"] = write_llama(root, "hubmem-test/tiny-0.027M")
    return root, out


async def check_of(hub: FakeHub, repo_id: str, token: str | bool = False) -> Report:
    report = await analyze_async(repo_id, endpoint=hub.endpoint, token=token, check=True)
    assert report.check is not None
    assert [i.name for i in report.check.items] == list(CHECK_NAMES)
    return report


def item(report: Report, name: str) -> CheckItem:
    assert report.check is not None
    got = report.check.item(name)
    assert got is not None
    return got


async def test_clean_repo_passes_every_check_it_can_make(
    repos: tuple[Path, dict[str, Expected]], make_fake_hub: Callable[..., FakeHub]
) -> None:
    root, exp = repos
    report = await check_of(make_fake_hub(root), "hubmem-test/clean")
    assert report.check is not None and report.check.ok and report.check.mismatches == 0
    size = item(report, "index_total_size")
    assert (size.status, size.expected, size.actual) == (
        "ok",
        exp["clean"].total_bytes,
        exp["clean"].total_bytes,
    )
    assert item(report, "index_weight_map").status == "ok"
    files = item(report, "file_sizes")
    assert files.status == "ok" and files.expected == sum(exp["clean"].file_sizes.values())
    hub = item(report, "hub_parameters")
    assert (hub.status, hub.expected, hub.matches) == ("ok", exp["clean"].parameters, "elements")
    config = item(report, "config_parameters")
    assert (config.status, config.expected) == ("ok", exp["clean"].parameters)
    assert item(report, "index_total_parameters").status == "unavailable"
    assert item(report, "name_size").status == "unavailable"


async def test_index_names_a_tensor_no_shard_holds_and_total_size_disagrees(
    repos: tuple[Path, dict[str, Expected]], make_fake_hub: Callable[..., FakeHub]
) -> None:
    root, exp = repos
    report = await check_of(make_fake_hub(root), "hubmem-test/ghost")
    size = item(report, "index_total_size")
    assert size.status == "mismatch"
    assert (size.expected, size.actual, size.difference) == (
        exp["ghost"].total_bytes + 4096,
        exp["ghost"].total_bytes,
        -4096,
    )
    wm = item(report, "index_weight_map")
    assert (
        wm.status == "mismatch"
        and wm.detail is not None
        and "1 named by the index but held by no shard" in wm.detail
    )
    assert wm.examples == [f"missing: {GHOST}"]
    assert report.check is not None and not report.check.ok and report.check.mismatches == 2


async def test_duplicated_extra_and_misplaced_tensors(
    repos: tuple[Path, dict[str, Expected]], make_fake_hub: Callable[..., FakeHub]
) -> None:
    root, _ = repos
    wm = item(await check_of(make_fake_hub(root), "hubmem-test/dupes"), "index_weight_map")
    assert wm.status == "mismatch"
    kinds = {e.split(":", 1)[0] for e in wm.examples}
    assert kinds == {"duplicated", "extra", "misplaced"}
    assert "extra: model.norm.weight" in wm.examples
    assert any(e.startswith("duplicated: model.embed_tokens.weight") for e in wm.examples)
    assert any(e.startswith("misplaced: model.layers.0.mlp.up_proj.weight") for e in wm.examples)


async def test_index_total_parameters(
    repos: tuple[Path, dict[str, Expected]], make_fake_hub: Callable[..., FakeHub]
) -> None:
    root, exp = repos
    hub = make_fake_hub(root)
    bad = item(await check_of(hub, "hubmem-test/params"), "index_total_parameters")
    assert (bad.status, bad.expected, bad.actual, bad.difference) == (
        "mismatch",
        exp["params"].parameters + 7,
        exp["params"].parameters,
        -7,
    )
    good = item(await check_of(hub, "hubmem-test/params-ok"), "index_total_parameters")
    assert (good.status, good.matches) == ("ok", "parameters")


async def test_file_larger_than_header_and_data(
    repos: tuple[Path, dict[str, Expected]], make_fake_hub: Callable[..., FakeHub]
) -> None:
    root, exp = repos
    hub = make_fake_hub(root)
    files = item(await check_of(hub, "hubmem-test/padded"), "file_sizes")
    real = exp["padded"].file_sizes["model.safetensors"]
    assert (files.status, files.expected, files.actual, files.difference) == (
        "mismatch",
        real,
        real - 64,
        -64,
    )
    assert files.examples and files.examples[0].startswith("model.safetensors:")
    with pytest.raises(CorruptHeaderError):  # the plain report refuses such a file; the check reports it
        await analyze_async("hubmem-test/padded", endpoint=hub.endpoint, token=False)


async def test_hub_total_bogus_and_dtype_split(
    repos: tuple[Path, dict[str, Expected]], make_fake_hub: Callable[..., FakeHub]
) -> None:
    root, exp = repos
    hub = make_fake_hub(root)
    bogus = item(await check_of(hub, "hubmem-test/hub-bogus"), "hub_parameters")
    assert (bogus.status, bogus.expected, bogus.actual) == ("mismatch", 123, exp["hub-bogus"].parameters)
    split = item(await check_of(hub, "hubmem-test/hub-dtype"), "hub_parameters")
    assert split.status == "mismatch" and "per-dtype" in (split.detail or "")
    assert any(e.startswith("F16:") for e in split.examples) and any(
        e.startswith("F32:") for e in split.examples
    )


async def test_config_declares_a_layer_the_headers_lack(
    repos: tuple[Path, dict[str, Expected]], make_fake_hub: Callable[..., FakeHub]
) -> None:
    root, exp = repos
    config = item(await check_of(make_fake_hub(root), "hubmem-test/config"), "config_parameters")
    assert config.status == "mismatch"
    assert config.expected == exp["config"].parameters + layer_params(D)
    assert config.difference == -layer_params(D)


async def test_name_claims_against_the_tiny_model(
    repos: tuple[Path, dict[str, Expected]], make_fake_hub: Callable[..., FakeHub]
) -> None:
    root, exp = repos
    hub = make_fake_hub(root)
    bad = item(await check_of(hub, "hubmem-test/tiny-7B"), "name_size")
    assert bad.status == "mismatch" and bad.difference == exp["name-bad"].parameters - 7 * 10**9
    good = item(await check_of(hub, "hubmem-test/tiny-0.027M"), "name_size")
    assert exp["name-ok"].parameters == 26_784  # 4096 embed + 2 x 9280 layers + 32 norm + 4096 head
    assert good.status == "ok" and good.matches == "total"


def test_check_cli_exit_status(
    repos: tuple[Path, dict[str, Expected]], make_fake_hub: Callable[..., FakeHub], tmp_path: Path
) -> None:
    root, _ = repos
    hub = make_fake_hub(root)
    env = dict(
        os.environ, HF_ENDPOINT=hub.endpoint, HUBMEM_CACHE=str(tmp_path / "c"), HF_TOKEN="", NO_COLOR="1"
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hubmem", *args], env=env, capture_output=True, text=True, timeout=60
        )

    clean = run("check", "hubmem-test/clean")
    assert clean.returncode == 0, clean.stderr
    assert "no mismatch" in clean.stdout
    ghost = run("check", "hubmem-test/ghost", "--json")
    assert ghost.returncode == 1
    assert '"mismatches": 2' in ghost.stdout
    missing = run("check", "hubmem-test/nope")
    assert missing.returncode == 3 and "not_found" in missing.stderr  # errors keep their own codes
    report = run("hubmem-test/ghost", "--check")  # the report command with the checks appended
    assert report.returncode == 0 and "index_weight_map" in report.stdout and "mismatch" in report.stdout


# -- names vs published sizes (corpus README and model cards) ------------------------------------------


def weights(total: int, *, embed: int = 0, moe: MoEInfo | None = None) -> WeightsReport:
    comps = {"embeddings": ComponentWeights(bytes=0, parameters=embed, tensors=1)} if embed else {}
    return WeightsReport(
        total_bytes=0,
        parameters=total,
        elements=total,
        tensors=0,
        by_dtype={},
        by_component=comps,
        files=[],
        moe=moe,
    )


def moe(experts: int, active: int, total: int) -> MoEInfo:
    return MoEInfo(num_experts=experts, experts_per_token=2, active_parameters=active, total_parameters=total)


@pytest.mark.parametrize(
    ("repo_id", "w", "status"),
    [
        ("meta-llama/Llama-3.1-8B", weights(8_030_261_248), "ok"),  # Hub API figure
        ("Qwen/Qwen3-8B", weights(8_200_000_000), "ok"),  # card: 8.2B
        ("Qwen/Qwen3-30B-A3B", weights(30_500_000_000, moe=moe(128, 3_300_000_000, 30_500_000_000)), "ok"),
        (
            "mistralai/Mixtral-8x7B-v0.1",
            weights(46_700_000_000, moe=moe(8, 12_900_000_000, 46_700_000_000)),
            "ok",
        ),
        ("openai/gpt-oss-20b", weights(21_000_000_000, moe=moe(32, 3_600_000_000, 21_000_000_000)), "ok"),
        ("meta-llama/Llama-3.1-80B", weights(8_030_261_248), "mismatch"),
        (
            "Qwen/Qwen3-30B-A1B",
            weights(30_500_000_000, moe=moe(128, 3_300_000_000, 30_500_000_000)),
            "mismatch",
        ),
        (
            "mistralai/Mixtral-4x7B",
            weights(46_700_000_000, moe=moe(8, 12_900_000_000, 46_700_000_000)),
            "mismatch",
        ),
        ("mistralai/Mixtral-8x7B", weights(7_240_000_000), "mismatch"),  # a dense 7B is no 8x7B
        ("google-bert/bert-base-uncased", weights(110_000_000), "unavailable"),
    ],
)
def test_name_size_against_published_figures(repo_id: str, w: WeightsReport, status: str) -> None:
    assert check_name_size(repo_id, w).status == status


def test_size_claims_parse_and_tolerance() -> None:
    claims = {c.token: c for c in parse_size_claims("Qwen/Qwen3-235B-A22B-FP8")}
    assert set(claims) == {"235B", "A22B"}
    assert claims["235B"].value == 235 * 10**9 and claims["A22B"].kind == "active"
    # "0.6B": half a unit of the last digit is 0.05B, below 10 % -> the 10 % (0.06B) applies
    small = parse_size_claims("Qwen/Qwen3-0.6B")[0]
    assert (small.value, small.tolerance) == (600_000_000, 60_000_000)
    # "1.5b" (lower case) and "135M"; "2507", "v0.1", "FP8", "L6" are not sizes
    assert [c.token for c in parse_size_claims("org/Qwen2.5-1.5b-SmolLM-135M-2507-v0.1-L6")] == [
        "1.5b",
        "135M",
    ]
    mix = parse_size_claims("meta-llama/Llama-4-Scout-17B-16E-Instruct")
    assert [(c.kind, c.token) for c in mix] == [("size", "17B"), ("experts", "16E")]
    # Llama 4 Scout: 17B active of 109B total, 16 experts (Meta's model card)
    scout = weights(109_000_000_000, moe=moe(16, 17_170_000_000, 109_000_000_000))
    result = check_name_size("meta-llama/Llama-4-Scout-17B-16E-Instruct", scout)
    assert result.status == "ok" and result.matches == "active, experts"
    # Gemma-2-2b counts non-embedding parameters: 2.61B total, 0.59B of them the embedding table
    assert (
        check_name_size("google/gemma-2-2b", weights(2_614_341_888, embed=589_824_000)).matches
        == "non-embedding"
    )


# -- the committed fixtures (fixtures/repos, built by scripts/fixtures/build.py) ----------------------------


def fixture_hub(make_fake_hub: Callable[..., FakeHub], *repo_dirs: str) -> FakeHub:
    for d in repo_dirs:
        repo_meta(d)  # fails, naming it, when a committed fixture repo is missing
    return make_fake_hub(FIXTURES)


async def test_fixture_broken_index(make_fake_hub: Callable[..., FakeHub]) -> None:
    hub = fixture_hub(make_fake_hub, "hubmem-test__broken-index")
    report = await check_of(hub, "hubmem-test/broken-index")
    size = item(report, "index_total_size")
    # the real MiniLM tensors hold 90,856,960 data bytes (corpus README); the index claims 1,000 more
    assert (size.status, size.actual, size.difference) == ("mismatch", 90_856_960, -1000)
    wm = item(report, "index_weight_map")
    assert wm.status == "mismatch" and len(wm.examples) == 1 and wm.examples[0].startswith("missing: ")


async def test_fixture_bogus_hub_total(make_fake_hub: Callable[..., FakeHub]) -> None:
    hub = fixture_hub(make_fake_hub, "hubmem-test__bogus-hub-total")
    got = item(await check_of(hub, "hubmem-test/bogus-hub-total"), "hub_parameters")
    assert (got.status, got.actual) == ("mismatch", MINILM_ELEMENTS)
    assert got.expected != MINILM_ELEMENTS


MINILM_ELEMENTS = 22_713_728  # corpus README: 103 F32 tensors (22,713,216) + position_ids (512 x I64)


async def test_fixture_real_models(make_fake_hub: Callable[..., FakeHub]) -> None:
    hub = fixture_hub(
        make_fake_hub,
        "meta-llama__Llama-3.1-8B",
        "sentence-transformers__all-MiniLM-L6-v2",
        "openai-community__gpt2",
        "Qwen__Qwen3-0.6B",
    )
    llama = await check_of(hub, "meta-llama/Llama-3.1-8B", READER_TOKEN)  # gated
    assert llama.check is not None and llama.check.ok
    hub_params = item(llama, "hub_parameters")
    assert (hub_params.expected, hub_params.matches) == (8_030_261_248, "elements")  # the Hub API figure
    assert item(llama, "index_total_size").actual == 16_060_522_496  # published index total_size
    assert item(llama, "name_size").status == "ok"
    # MiniLM: the formula matches once the int64 position_ids buffer (512 elements) is set aside
    minilm = item(await check_of(hub, "sentence-transformers/all-MiniLM-L6-v2"), "config_parameters")
    assert (minilm.status, minilm.expected, minilm.actual) == ("ok", MINILM_ELEMENTS - 512, MINILM_ELEMENTS)
    # GPT-2 stores a 1024 x 1024 causal-mask buffer in each of its 12 layers
    gpt2 = item(await check_of(hub, "openai-community/gpt2"), "config_parameters")
    assert gpt2.status == "ok" and gpt2.difference == 12 * 1024 * 1024
    # Qwen3-0.6B ties lm_head (config.json) yet stores it: the headers hold vocab x hidden more
    qwen = await check_of(hub, "Qwen/Qwen3-0.6B")
    config = item(qwen, "config_parameters")
    assert config.status == "mismatch" and config.difference == 151_936 * 1024
    assert "ties lm_head" in (config.detail or "")
    assert item(qwen, "name_size").matches == "non-embedding"  # 0.6B is the count without the (tied) table
