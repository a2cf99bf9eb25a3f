"""Structural invariants of fixtures/ (the layout served by the fake Hub), checked without torch.

Every repo.json is loaded and every stored header re-parsed here from first principles: the safetensors
format (8-byte N, JSON, contiguous data_offsets, end - begin = numel x dtype bits / 8) and the repo contract
(fixtures/README.md). Deliberately broken special repos are checked to be broken in exactly their way.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from support.paths import REPOS, fixture_glob

# safetensors Dtype::bitsize (docs/theory.md 3.1)
BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F4": 4, "F6_E2M3": 6,
    "F6_E3M2": 6, "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32,
    "F64": 64, "I64": 64, "U64": 64,
}  # fmt: skip
# files written before safetensors 0.3 carry no 8-byte padding; the 99,995-byte header is odd on purpose
UNPADDED = {"openai-community/gpt2", "google-bert/bert-base-uncased", "hubmem-test/header-99995"}
BROKEN_HEADER = {"hubmem-test/corrupt-header", "hubmem-test/unknown-dtype"}
BROKEN_INDEX = {"hubmem-test/broken-index"}
HEX40 = re.compile(r"^[0-9a-f]{40}$")

REPO_DIRS = [p.parent for p in fixture_glob("repos/*/repo.json")]


@cache
def meta(repo_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((repo_dir / "repo.json").read_text())
    return data


def header_path(repo_dir: Path, path: str) -> Path | None:
    for cand in (repo_dir / "headers" / f"{path}.json", repo_dir / "headers" / f"{path}.json.gz"):
        if cand.is_file():
            return cand
    return None


@cache
def header_bytes(repo_dir: Path, path: str) -> bytes:
    p = header_path(repo_dir, path)
    assert p is not None, f"{repo_dir.name}: no header for {path}"
    raw = p.read_bytes()
    return gzip.decompress(raw) if p.name.endswith(".gz") else raw


def parse(raw: bytes) -> list[tuple[str, str, list[int], int, int]]:
    """(name, dtype, shape, begin, end) in offset order, after checking every safetensors rule."""
    obj = json.loads(raw.decode("utf-8"))
    assert isinstance(obj, dict)
    keys = list(obj)
    if "__metadata__" in obj:
        assert keys[0] == "__metadata__", "the library writes __metadata__ first"
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in obj["__metadata__"].items())
    rows = []
    for name, info in obj.items():
        if name == "__metadata__":
            continue
        assert set(info) == {"dtype", "shape", "data_offsets"}, name
        begin, end = info["data_offsets"]
        bits = math.prod(info["shape"]) * BITS[info["dtype"]]
        assert bits % 8 == 0 and end - begin == bits // 8, f"{name}: {info}"
        rows.append((name, info["dtype"], info["shape"], begin, end))
    cursor = 0
    for name, _, _, begin, end in sorted(rows, key=lambda r: r[3]):
        assert begin == cursor, f"{name}: hole or overlap at {begin} (expected {cursor})"
        cursor = end
    assert [r[0] for r in rows] == [r[0] for r in sorted(rows, key=lambda r: r[3])], "keys in offset order"
    return rows


def safetensors_files(m: dict[str, Any]) -> list[str]:
    return [p for p, spec in m["files"].items() if p.endswith(".safetensors") and "header_length" not in spec]


def test_there_are_enough_real_repos() -> None:
    real = [d for d in REPO_DIRS if not meta(d)["repo_id"].startswith("hubmem-test/")]
    assert len(real) >= 12
    assert any(meta(d)["gated"] == "manual" for d in real)


@pytest.mark.parametrize("repo_dir", REPO_DIRS, ids=lambda d: d.name)
def test_repo_json_contract(repo_dir: Path) -> None:
    m = meta(repo_dir)
    assert repo_dir.name == m["repo_id"].replace("/", "__")
    assert HEX40.match(m["sha"]) and m["refs"]["main"] == m["sha"]
    assert all(HEX40.match(s) for s in m["refs"].values())
    assert m["gated"] in (False, "auto", "manual")
    assert isinstance(m["private"], bool) and isinstance(m["disabled"], bool)
    assert m["files"], "a repo serves at least one file"
    for path, spec in m["files"].items():
        assert set(spec) <= {"size", "lfs", "header_length"}, path
        stored = repo_dir / "files" / path
        if stored.is_file():
            assert spec["size"] == stored.stat().st_size and not spec["lfs"], path
        elif "header_length" in spec:
            assert (
                spec["lfs"]
                and spec["size"] >= 8 + spec["header_length"]
                and header_path(repo_dir, path) is None
            )
        else:
            assert spec["lfs"], f"{path}: not stored, so it must be an LFS file"
    stored_files = {
        p.relative_to(repo_dir / "files").as_posix() for p in (repo_dir / "files").rglob("*") if p.is_file()
    }
    assert stored_files <= set(m["files"]), "every stored file is listed (the fake Hub would serve it)"
    assert "provenance" in m and m["provenance"]["files"].keys() == m["files"].keys()


def test_shas_are_distinct() -> None:
    shas = [meta(d)["sha"] for d in REPO_DIRS]
    assert len(set(shas)) == len(shas)


@pytest.mark.parametrize("repo_dir", REPO_DIRS, ids=lambda d: d.name)
def test_headers_parse_and_sizes_add_up(repo_dir: Path) -> None:
    m = meta(repo_dir)
    for path in safetensors_files(m):
        raw = header_bytes(repo_dir, path)
        if m["repo_id"] in BROKEN_HEADER:
            continue
        rows = parse(raw)
        data = sum(end - begin for *_, begin, end in rows)
        assert m["files"][path]["size"] == 8 + len(raw) + data, path
        assert len(raw) <= 25_000_000
        if m["repo_id"] not in UNPADDED:
            assert len(raw) % 8 == 0, f"{path}: the safetensors library pads the header to 8 bytes"
        assert raw.rstrip(b" ").endswith(b"}")


def test_broken_headers_are_broken_as_designed() -> None:
    corrupt = REPOS / "hubmem-test__corrupt-header"
    with pytest.raises(ValueError):
        json.loads(header_bytes(corrupt, "model.safetensors"))
    unknown = json.loads(header_bytes(REPOS / "hubmem-test__unknown-dtype", "model.safetensors"))
    dtypes = {v["dtype"] for k, v in unknown.items() if k != "__metadata__"}
    assert dtypes - set(BITS) == {"Q4_K"}
    big = meta(REPOS / "hubmem-test__header-too-large")["files"]["model.safetensors"]
    assert big["header_length"] == 30_000_000 > 25_000_000
    assert len(header_bytes(REPOS / "hubmem-test__header-99995", "model.safetensors")) == 99_995


@pytest.mark.parametrize("repo_dir", REPO_DIRS, ids=lambda d: d.name)
def test_index_matches_shards(repo_dir: Path) -> None:
    m = meta(repo_dir)
    index_files = [p for p in m["files"] if p.endswith("model.safetensors.index.json")]
    for index_path in index_files:
        index = json.loads((repo_dir / "files" / index_path).read_text())
        folder = index_path.rpartition("/")[0]
        wm: dict[str, str] = index["weight_map"]
        held: dict[str, str] = {}
        total = 0
        for shard in sorted(set(wm.values())):
            shard_path = f"{folder}/{shard}" if folder else shard
            assert shard_path in m["files"], f"index names a missing shard {shard}"
            for name, _, _, begin, end in parse(header_bytes(repo_dir, shard_path)):
                held[name] = shard
                total += end - begin
        if m["repo_id"] in BROKEN_INDEX:
            assert set(wm) - set(held) == {"encoder.layer.6.attention.self.query.weight"}
            assert index["metadata"]["total_size"] == total + 1000
            continue
        assert wm == held, "every index entry points at the shard holding it, and nothing else is held"
        assert index["metadata"]["total_size"] == total
        if "total_parameters" in index["metadata"]:
            n = sum(math.prod(r[2]) for s in set(wm.values()) for r in parse(header_bytes(repo_dir, s)))
            assert index["metadata"]["total_parameters"] == n


@pytest.mark.parametrize("repo_dir", REPO_DIRS, ids=lambda d: d.name)
def test_provenance_checks_all_passed_and_figures_match_headers(repo_dir: Path) -> None:
    m = meta(repo_dir)
    prov = m["provenance"]
    assert all(c["result"] == "PASS" for c in prov["checks"])
    figures = prov.get("figures") or {}
    if not figures:
        return
    data = numel = files = 0
    by_dtype: dict[str, int] = {}
    for path in safetensors_files(m):
        rows = parse(header_bytes(repo_dir, path))
        data += sum(e - b for *_, b, e in rows)
        files += m["files"][path]["size"]
        for _, dtype, shape, _, _ in rows:
            numel += math.prod(shape)
            by_dtype[dtype] = by_dtype.get(dtype, 0) + math.prod(shape)
    assert (figures["data"], figures["numel"], figures["files"]) == (data, numel, files)
    assert figures["numel_by_dtype"] == dict(sorted(by_dtype.items()))


def test_special_repos_flags() -> None:
    assert meta(REPOS / "hubmem-test__private")["private"] is True
    assert meta(REPOS / "hubmem-test__disabled")["disabled"] is True
    assert meta(REPOS / "hubmem-test__gated-auto")["gated"] == "auto"
    refs = meta(REPOS / "hubmem-test__pr-ref")["refs"]
    assert set(refs) == {"main", "refs/pr/1"} and refs["main"] != refs["refs/pr/1"]
    bogus = meta(REPOS / "hubmem-test__bogus-hub-total")
    assert bogus["hub"]["safetensors"]["total"] == 333_312
    assert not any(p.endswith(".safetensors") for p in meta(REPOS / "hubmem-test__pytorch-only")["files"])
    sub = meta(REPOS / "hubmem-test__subfolder-weights")["files"]
    assert [p for p in sub if p.endswith(".safetensors")] == [
        "transformer/diffusion_pytorch_model.safetensors"
    ]
    cons = meta(REPOS / "hubmem-test__consolidated-only")["files"]
    assert sorted(cons) == ["consolidated.safetensors", "params.json"]


def test_only_real_names_are_served() -> None:
    # corpus copies under names the real repos do not have live in corpus/, never in files/
    bad = re.compile(r"(header\.json|lfs-pointer|mlc-preset|aiconfigurator|deepseek_inference_config)")
    for d in REPOS.iterdir():
        for p in (d / "files").rglob("*") if (d / "files").is_dir() else []:
            assert not bad.search(p.name), p


def test_fixtures_readme_is_what_the_builder_writes(tmp_path: Path) -> None:
    """fixtures/README.md is generated from every repo.json (scripts/fixtures/readme.py): a hand edit that
    the generator does not know would be lost on the next build."""
    from scripts.fixtures import readme

    for repo_json in fixture_glob("repos/*/repo.json"):
        copy = tmp_path / "repos" / repo_json.parent.name / "repo.json"
        copy.parent.mkdir(parents=True)
        copy.write_bytes(repo_json.read_bytes())
    readme.update(tmp_path, [])
    assert (tmp_path / "README.md").read_text() == (REPOS.parent / "README.md").read_text()
