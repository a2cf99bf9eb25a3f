"""Faithfulness check: huggingface_hub 2.4 itself, pointed at the fake Hub with explicit endpoints."""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub
import pytest
from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub.errors import (
    DisabledRepoError,
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
    SafetensorsParsingError,
)
from huggingface_hub.hf_api import RepoFile, RepoFolder
from safetensors.numpy import save

from hubmem.fakehub.fixtures.layout import NOGATE_TOKEN, READER_TOKEN
from hubmem.fakehub.server import FakeHub
from hubmem.fakehub.thread import run_in_thread

from support.fakehub_samples import (
    BIG,
    CONFIG,
    DISABLED,
    GATED,
    PRIVATE,
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

DTYPES = {"float32": "F32", "float16": "F16", "int64": "I64", "int8": "I8"}


@pytest.fixture(scope="module")
def module_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeHub]:
    with run_in_thread(build(tmp_path_factory.mktemp("fixtures"))) as hub:
        yield hub


@pytest.fixture
def hub(module_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    # get_safetensors_metadata downloads the index through the default cache: keep it in tmp
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    module_hub.reset()
    yield module_hub
    module_hub.reset()


@pytest.fixture
def anon(hub: FakeHub) -> HfApi:
    return HfApi(endpoint=hub.endpoint, token=False)


def test_model_info(anon: HfApi) -> None:
    info = anon.model_info(TINY)
    assert info.id == TINY and info.sha == SHA_MAIN and info.private is False and info.gated is False
    assert sorted(s.rfilename for s in info.siblings or []) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    expected = count_by_dtype([tiny_tensors()])
    assert info.safetensors is not None
    assert info.safetensors.parameters == expected and info.safetensors.total == sum(expected.values())
    assert anon.model_info(TINY, revision="refs/pr/1").sha == SHA_PR
    assert anon.model_info(GATED).gated == "manual"  # metadata of a gated repo is public


def test_model_info_expand_and_files_metadata(anon: HfApi) -> None:
    info = anon.model_info(SHARDED, expand=["safetensors", "sha"])
    assert info.sha == SHA_MAIN and info.siblings is None and info.private is None
    expected = count_by_dtype(shard_tensors())
    assert info.safetensors is not None and info.safetensors.total == sum(expected.values())
    sibs = {s.rfilename: s for s in anon.model_info(SHARDED, files_metadata=True).siblings or []}
    shard = sibs["model-00002-of-00002.safetensors"]
    assert (
        shard.size == len(save(shard_tensors()[1])) and shard.lfs is not None and shard.lfs.size == shard.size
    )
    assert sibs["config.json"].lfs is None and sibs["config.json"].size is not None


def test_list_repo_tree_follows_pagination(hub: FakeHub, anon: HfApi) -> None:
    hub.options.tree_page_size = 2
    items = list(anon.list_repo_tree(SHARDED, recursive=True))
    folders = {i.path for i in items if isinstance(i, RepoFolder)}
    files = {i.path: i for i in items if isinstance(i, RepoFile)}
    assert folders == {"sub", "sub/dir"}
    assert set(files) == {
        "config.json",
        "model.safetensors.index.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "sub/c.txt",
        "sub/dir/a.txt",
        "sub/dir/b.txt",
        "z.txt",
    }
    assert hub.log.count(path="/tree/") == math.ceil(len(items) / 2)
    lfs = files["model-00001-of-00002.safetensors"].lfs
    assert lfs is not None and lfs.size == len(save(shard_tensors()[0]))
    sub = [i.path for i in anon.list_repo_tree(SHARDED, path_in_repo="sub/dir")]
    assert sub == ["sub/dir/a.txt", "sub/dir/b.txt"]
    with pytest.raises(EntryNotFoundError):
        list(anon.list_repo_tree(SHARDED, path_in_repo="nope"))


def test_list_repo_tree_expand_uses_its_own_page_size(hub: FakeHub, anon: HfApi) -> None:
    hub.options.tree_expand_page_size = 3  # the expand page size is separate from the plain one
    items = list(anon.list_repo_tree(SHARDED, recursive=True, expand=True))
    assert len(items) == 10 and hub.log.count(path="/tree/") == 4
    assert all(i.last_commit is not None and i.last_commit.oid == SHA_MAIN for i in items)
    assert all(i.security is not None for i in items if isinstance(i, RepoFile))


def test_get_paths_info(anon: HfApi) -> None:
    infos = anon.get_paths_info(SHARDED, ["config.json", "sub", "missing.bin"], expand=True)
    assert [type(i).__name__ for i in infos] == ["RepoFile", "RepoFolder"]
    assert infos[0].path == "config.json" and infos[0].last_commit is not None  # type: ignore[union-attr]
    assert infos[0].last_commit.oid == SHA_MAIN  # type: ignore[union-attr]


def test_parse_safetensors_file_metadata(hub: FakeHub, anon: HfApi) -> None:
    meta = anon.parse_safetensors_file_metadata(TINY, "model.safetensors", revision="refs/pr/1")
    tensors = tiny_tensors()
    assert {k: (t.dtype, t.shape) for k, t in meta.tensors.items()} == {
        k: (DTYPES[str(a.dtype)], list(a.shape)) for k, a in tensors.items()
    }
    assert meta.metadata == {"format": "pt"}
    assert meta.parameter_count == count_by_dtype([tensors])
    cdn = hub.log.filter(origin="cdn")
    assert len(cdn) == 1 and cdn[0].range == "bytes=0-100000" and not cdn[0].auth


def test_header_too_long_is_refused_after_one_read(hub: FakeHub, anon: HfApi) -> None:
    with pytest.raises(SafetensorsParsingError):
        anon.parse_safetensors_file_metadata(TOOLONG, "model.safetensors")
    assert hub.log.count(origin="cdn") == 1


def test_get_safetensors_metadata_single_and_sharded(hub: FakeHub, anon: HfApi) -> None:
    single = anon.get_safetensors_metadata(TINY)
    assert not single.sharded and single.parameter_count == count_by_dtype([tiny_tensors()])
    sharded = anon.get_safetensors_metadata(SHARDED)
    assert sharded.sharded and sharded.parameter_count == count_by_dtype(shard_tensors())
    assert sharded.weight_map["lm_head"] == "model-00002-of-00002.safetensors"
    one_call = anon.get_sharded_safetensors_metadata(SHARDED)
    assert one_call.parameter_count == sharded.parameter_count and one_call.weight_map == sharded.weight_map
    assert hub.log.auth_leaks() == []


def test_file_metadata_lfs_stops_at_the_cdn(hub: FakeHub) -> None:
    url = hf_hub_url(BIG, "model.safetensors", endpoint=hub.endpoint)
    meta = get_hf_file_metadata(url, token=READER_TOKEN)
    head = [e for e in hub.log if e.method == "HEAD"]
    assert meta.commit_hash == SHA_MAIN and meta.location.startswith(hub.cdn_url)
    assert meta.size is not None and meta.size > 3 * 1024**3
    assert meta.etag is not None and len(meta.etag) == 64  # X-Linked-Etag (sha256), not the redirect's ETag
    assert [e.origin for e in head] == ["hub"]  # did not follow the cross-origin redirect


def test_file_metadata_regular_via_resolve_cache(hub: FakeHub) -> None:
    hub.options.regular_redirect = "always"
    url = hf_hub_url(TINY, "config.json", revision="refs/pr/1", endpoint=hub.endpoint)
    meta = get_hf_file_metadata(url, token=False)
    stored = (hub.fixtures_dir / "repos" / "hubmem-test__tiny" / "files" / "config.json").read_bytes()
    git_oid = subprocess.run(["git", "hash-object", "--stdin"], input=stored, capture_output=True, check=True)
    assert meta.commit_hash == SHA_PR and meta.size == len(stored)
    assert meta.etag == git_oid.stdout.decode().strip()
    assert [e.status for e in hub.log] == [307, 200]


def test_hf_hub_download_with_token_never_leaks_it(hub: FakeHub, tmp_path: Path) -> None:
    path = hf_hub_download(
        GATED, "model.safetensors", endpoint=hub.endpoint, token=READER_TOKEN, cache_dir=tmp_path
    )
    assert Path(path).read_bytes() == save(tiny_tensors())  # all-zero tensors: byte-identical file
    cfg = hf_hub_download(TINY, "config.json", endpoint=hub.endpoint, token=READER_TOKEN, cache_dir=tmp_path)
    assert json.loads(Path(cfg).read_text()) == CONFIG
    assert hub.log.count(origin="cdn") == 1 and hub.log.auth_leaks() == []
    assert all(e.auth for e in hub.log.filter(origin="hub"))


def test_list_repo_refs(anon: HfApi) -> None:
    refs = anon.list_repo_refs(TINY, include_pull_requests=True)
    assert [(b.name, b.target_commit) for b in refs.branches] == [("main", SHA_MAIN)]
    assert [(t.name, t.ref) for t in refs.tags] == [("v1.0", "refs/tags/v1.0")]
    assert [p.ref for p in refs.pull_requests or []] == ["refs/pr/1"]


def test_error_classes(hub: FakeHub, anon: HfApi, tmp_path: Path) -> None:
    nogate = HfApi(endpoint=hub.endpoint, token=NOGATE_TOKEN)
    with pytest.raises(RepositoryNotFoundError) as missing_anon:
        anon.model_info("hubmem-test/missing")
    assert missing_anon.value.response.status_code == 401
    with pytest.raises(RepositoryNotFoundError) as private_auth:
        nogate.model_info(PRIVATE)
    assert private_auth.value.response.status_code == 404
    with pytest.raises(RevisionNotFoundError):
        anon.model_info(TINY, revision="nope")
    with pytest.raises(DisabledRepoError):
        anon.model_info(DISABLED)
    with pytest.raises(GatedRepoError) as gated_anon:
        hf_hub_download(GATED, "config.json", endpoint=hub.endpoint, token=False, cache_dir=tmp_path)
    assert gated_anon.value.response.status_code == 401
    with pytest.raises(GatedRepoError) as gated_nogate:
        nogate.file_exists(GATED, "config.json")
    assert gated_nogate.value.response.status_code == 403
    with pytest.raises(RemoteEntryNotFoundError):
        get_hf_file_metadata(hf_hub_url(TINY, "missing.json", endpoint=hub.endpoint), token=False)
    with pytest.raises(HfHubHTTPError) as bad_token:
        HfApi(endpoint=hub.endpoint, token="hf_bogus").model_info(TINY)
    assert (
        not isinstance(bad_token.value, RepositoryNotFoundError)
        and bad_token.value.response.status_code == 401
    )


def test_file_exists_and_whoami(hub: FakeHub, anon: HfApi) -> None:
    assert anon.file_exists(TINY, "config.json") and not anon.file_exists(TINY, "nope.json")
    assert not anon.file_exists(TINY, "config.json", revision="nope")
    assert HfApi(endpoint=hub.endpoint, token=READER_TOKEN).whoami()["name"] == "hubmem-reader"
