"""Fixture store, virtual files, Range parsing and raw-path routing of the fake Hub (no sockets)."""

from __future__ import annotations

import gzip
import json
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save

from hubmem.fakehub.fixtures import repo as repo_module
from hubmem.fakehub.fixtures.layout import NOGATE_TOKEN, READER_TOKEN, RepoWriter, default_fixtures_dir
from hubmem.fakehub.fixtures.store import FixtureStore
from hubmem.fakehub.handlers.http import HubError, Unsatisfiable, parse_range
from hubmem.fakehub.routing import parse_route

from support.fakehub_samples import (
    BIG,
    BIG_DATA,
    SHA_MAIN,
    SHA_PR,
    SHARDED,
    TINY,
    TOOLONG,
    build,
    count_by_dtype,
    shard_tensors,
    tiny_tensors,
)
from support.paths import FIXTURES


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> FixtureStore:
    return FixtureStore(build(tmp_path_factory.mktemp("fixtures")))


def git_hash_object(data: bytes) -> str:
    """The git blob id, computed by git itself (independent of the fake's implementation)."""
    return (
        subprocess.run(["git", "hash-object", "--stdin"], input=data, capture_output=True, check=True)
        .stdout.decode()
        .strip()
    )


def test_virtual_safetensors_is_byte_identical_to_the_real_file(tmp_path: Path) -> None:
    real = save(tiny_tensors(), metadata={"format": "pt"})  # all-zero tensors: data part is zeros
    RepoWriter(tmp_path, "o/r").add_safetensors("model.safetensors", real).write()
    f = FixtureStore(tmp_path).get("o/r").files["model.safetensors"]  # type: ignore[union-attr]
    assert f.size == len(real)
    assert f.content.read() == real
    for start, stop in [(0, 8), (3, 17), (7, len(real)), (len(real) - 5, len(real)), (100, 101)]:
        assert f.content.read(start, stop) == real[start:stop]
        assert b"".join(f.content.iter_range(start, stop, chunk=3)) == real[start:stop]


def test_gzip_header_is_served_decompressed(tmp_path: Path) -> None:
    real = save(shard_tensors()[0])
    RepoWriter(tmp_path, "o/r").add_safetensors("m.safetensors", real, gzip_header=True).write()
    assert [p.name for p in (tmp_path / "repos" / "o__r" / "headers").iterdir()] == ["m.safetensors.json.gz"]
    f = FixtureStore(tmp_path).get("o/r").files["m.safetensors"]  # type: ignore[union-attr]
    assert f.content.read() == real


def test_stored_header_file_is_exactly_the_n_header_bytes(store: FixtureStore) -> None:
    f = store.get(TINY).files["model.safetensors"]  # type: ignore[union-attr]
    real = save(tiny_tensors(), metadata={"format": "pt"})
    (n,) = struct.unpack("<Q", real[:8])
    assert f.header_bytes == real[8 : 8 + n]
    assert f.header_json() == json.loads(real[8 : 8 + n])


def test_header_is_checked_once_and_its_verdict_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The summary and the metadata route both read a header: the Hub's entry checks run on the first read
    only, and a header the Hub cannot parse stays unparsable on every read."""
    good = save(shard_tensors()[0])
    bad_header = json.dumps({"w": {"dtype": "F32", "shape": [2**64], "data_offsets": [0, 0]}}).encode()
    bad = struct.pack("<Q", len(bad_header)) + bad_header
    RepoWriter(tmp_path, "o/r").add_safetensors("a.safetensors", good).add_safetensors(
        "b.safetensors", bad
    ).write()
    files = FixtureStore(tmp_path).get("o/r").files  # type: ignore[union-attr]
    checked: list[str] = []
    real_check = repo_module._hub_entry

    def counted(name: str, info: object) -> bool:
        checked.append(name)
        return real_check(name, info)

    monkeypatch.setattr(repo_module, "_hub_entry", counted)
    first = [files[p].header_json() for p in ("a.safetensors", "b.safetensors")]
    n = len(checked)
    again = [files[p].header_json() for p in ("a.safetensors", "b.safetensors")]
    assert len(checked) == n == len(shard_tensors()[0]) + 1  # a's tensors, b's one entry
    assert first == again and first[0] == json.loads(good[8 : 8 + struct.unpack("<Q", good[:8])[0]])
    assert first[1] is None


def test_synthetic_header_length(store: FixtureStore) -> None:
    f = store.get(TOOLONG).files["model.safetensors"]  # type: ignore[union-attr]
    first = f.content.read(0, 20)
    assert struct.unpack("<Q", first[:8])[0] == 30_000_000
    assert first[8:9] == b"{" and first[9:] == b" " * 11
    assert f.size == 30_000_108 and f.content.read(30_000_008, 30_000_010) == b"\0\0"


def test_big_virtual_file_ranges_are_zero_beyond_the_header(store: FixtureStore) -> None:
    f = store.get(BIG).files["model.safetensors"]  # type: ignore[union-attr]
    n = len(f.header_bytes or b"")
    assert f.size == 8 + n + BIG_DATA  # 3 GiB + header, never materialised
    assert f.content.read(f.size - 16, f.size + 100) == bytes(16)  # clamped at the end
    header = json.loads(f.content.read(8, 8 + n))
    assert header["w"]["data_offsets"] == [0, BIG_DATA]


def test_safetensors_summary_counts_elements_per_dtype(store: FixtureStore) -> None:
    sharded = store.get(SHARDED).safetensors_summary  # type: ignore[union-attr]
    expected = count_by_dtype(shard_tensors())
    assert sharded == {"parameters": expected, "total": sum(expected.values())}
    tiny = store.get(TINY).safetensors_summary  # type: ignore[union-attr]
    assert tiny is not None and tiny["parameters"] == {"F32": 32, "F16": 4, "I64": 1}  # scalar counts 1


def test_summary_from_repo_json_wins_and_root_index_decides(tmp_path: Path) -> None:
    w = RepoWriter(tmp_path, "o/r", hub={"safetensors": {"parameters": {"BF16": 7}, "total": 7}})
    w.add_safetensors("model.safetensors", save(tiny_tensors())).write()
    assert FixtureStore(tmp_path).get("o/r").safetensors_summary == {"parameters": {"BF16": 7}, "total": 7}  # type: ignore[union-attr]
    # a stray consolidated file next to an index is not counted (the index names the shards)
    w2 = RepoWriter(tmp_path, "o/idx")
    w2.add_json("model.safetensors.index.json", {"weight_map": {"a": "model-1.safetensors"}})
    w2.add_safetensors("model-1.safetensors", save({"a": np.zeros((2, 3), dtype=np.float32)}))
    w2.add_safetensors("consolidated.safetensors", save({"a": np.zeros((2, 3), dtype=np.float32)})).write()
    assert FixtureStore(tmp_path).get("o/idx").safetensors_summary == {"parameters": {"F32": 6}, "total": 6}  # type: ignore[union-attr]


def test_incomplete_repo_dirs_are_skipped(store: FixtureStore) -> None:
    assert (store.root / "repos" / "incomplete__repo").is_dir()
    assert all("incomplete" not in r for r in store.repos)
    assert TINY in store.repos


def test_revisions(store: FixtureStore) -> None:
    repo = store.get(TINY)
    assert repo is not None
    assert repo.resolve_revision("main") == SHA_MAIN
    assert repo.resolve_revision("refs/pr/1") == SHA_PR
    assert repo.resolve_revision("v1.0") == SHA_MAIN
    assert repo.resolve_revision("HEAD") == SHA_MAIN
    assert repo.resolve_revision("refs/heads/main") == SHA_MAIN
    assert repo.resolve_revision(SHA_PR) == SHA_PR
    assert repo.resolve_revision("3" * 40) is None
    assert repo.resolve_revision("refs") is None


def test_git_oids_match_git(store: FixtureStore) -> None:
    repo = store.get(TINY)
    assert repo is not None
    cfg = repo.files["config.json"]
    assert cfg.git_oid == git_hash_object((repo.root / "files" / "config.json").read_bytes())
    st = repo.files["model.safetensors"]
    assert st.pointer.startswith(b"version https://git-lfs.github.com/spec/v1\noid sha256:")
    assert st.git_oid == git_hash_object(st.pointer)
    assert st.entry()["lfs"] == {"oid": st.lfs_oid, "size": st.size, "pointerSize": len(st.pointer)}


def test_tokens_default_when_file_absent(tmp_path: Path) -> None:
    s = FixtureStore(tmp_path)
    assert set(s.tokens) == {READER_TOKEN, NOGATE_TOKEN}
    assert s.tokens[READER_TOKEN].can_access_gated("a/b") and not s.tokens[NOGATE_TOKEN].can_access_gated(
        "a/b"
    )


def test_repo_tree_listing(store: FixtureStore) -> None:
    repo = store.get(SHARDED)
    assert repo is not None
    top = [(e["type"], e["path"]) for e in repo.tree("", recursive=False) or []]
    assert ("directory", "sub") in top and ("file", "z.txt") in top and ("file", "sub/c.txt") not in top
    sub = [e["path"] for e in repo.tree("sub", recursive=True) or []]
    assert sub == ["sub/c.txt", "sub/dir", "sub/dir/a.txt", "sub/dir/b.txt"]
    assert repo.tree("nope", recursive=True) is None
    assert repo.tree("z.txt", recursive=True) is None


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-4", 10, (0, 5)),
        ("bytes=0-100000", 10, (0, 10)),  # end clamped
        ("bytes=3-", 10, (3, 10)),
        ("bytes=-4", 10, (6, 10)),
        ("bytes=-40", 10, (0, 10)),
        ("bytes=9-9", 10, (9, 10)),
        ("bytes=5-2", 10, None),  # invalid: ignored
        ("bytes=0-1,4-5", 10, None),  # multi-range: ignored (whole body)
        ("items=0-1", 10, None),
    ],
)
def test_parse_range(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=10-20", 10), ("bytes=10-", 10), ("bytes=-0", 10), ("bytes=0-0", 0)]
)
def test_parse_range_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(Unsatisfiable):
        parse_range(header, size)


@pytest.mark.parametrize(
    ("raw", "kind", "repo", "rev", "path"),
    [
        ("/api/models/org/name", "model_info", "org/name", None, ""),
        ("/api/models/gpt2", "model_info", "gpt2", None, ""),
        ("/api/models/gpt2/revision/main", "model_info", "gpt2", "main", ""),
        ("/api/models/org/name/revision/refs%2Fpr%2F1", "model_info", "org/name", "refs/pr/1", ""),
        (
            "/api/models/org/name/revision/refs/pr/1",
            "model_info",
            "org/name",
            "refs",
            "",
        ),  # -> RevisionNotFound
        ("/api/models/org/name/tree/main/sub%2Fdir", "tree", "org/name", "main", "sub/dir"),
        ("/api/models/org/name/tree/main/sub/dir", "tree", "org/name", "main", "sub/dir"),
        ("/api/models/org/name/tree/refs%2Fpr%2F1", "tree", "org/name", "refs/pr/1", ""),
        ("/api/models/org/name/paths-info/v1.0", "paths_info", "org/name", "v1.0", ""),
        ("/api/models/org/name/refs", "refs", "org/name", None, ""),
        (
            "/api/models/org/name/safetensors-metadata/a/b.index.json",
            "st_metadata",
            "org/name",
            "main",
            "a/b.index.json",
        ),
        (
            "/org/name/resolve/refs%2Fpr%2F1/sub%20dir/x.safetensors",
            "resolve",
            "org/name",
            "refs/pr/1",
            "sub dir/x.safetensors",
        ),
        ("/org/name/resolve/refs/pr/1/config.json", "resolve", "org/name", "refs/pr/1", "config.json"),
        ("/gpt2/resolve/main/a%23b%3Fc%25.json", "resolve", "gpt2", "main", "a#b?c%.json"),
        ("/org/name/raw/main/config.json", "raw", "org/name", "main", "config.json"),
        (
            f"/api/resolve-cache/models/org/name/{SHA_MAIN}/config.json",
            "resolve_cache",
            "org/name",
            SHA_MAIN,
            "config.json",
        ),
        ("/api/datasets/org/name", "other_type", "org/name", None, ""),
        ("/org/name/blob/main/x", "not_found", "", None, ""),
    ],
)
def test_route_on_raw_path(raw: str, kind: str, repo: str, rev: str | None, path: str) -> None:
    route = parse_route(raw)
    assert (route.kind, route.repo_id, route.revision, route.path) == (kind, repo, rev, path)


def test_encoded_slash_in_repo_id_is_a_bad_request() -> None:
    with pytest.raises(HubError) as exc:
        parse_route("/api/models/org%2Fname")
    assert exc.value.status == 400


def test_default_fixtures_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HUBMEM_FIXTURES", raising=False)
    assert default_fixtures_dir() == FIXTURES  # <repo root>/fixtures
    monkeypatch.setenv("HUBMEM_FIXTURES", str(tmp_path))
    assert default_fixtures_dir() == tmp_path.resolve()


def test_gzip_roundtrip_helper_writes_compressed(tmp_path: Path) -> None:
    RepoWriter(tmp_path, "o/r").add_header("x.safetensors", b'{"a":1}', size=20, gzip_header=True).write()
    raw = (tmp_path / "repos" / "o__r" / "headers" / "x.safetensors.json.gz").read_bytes()
    assert gzip.decompress(raw) == b'{"a":1}'
