"""Issue #10 item 6: local files are opened as regular files only, with a size cap, so a FIFO named
``model.safetensors`` / ``config.json`` / a companion, a ``config.json`` that links to ``/dev/zero`` or a
folder named like a file is a typed error or a warning at once, never a hang or gigabytes read."""

from __future__ import annotations

import concurrent.futures
import json
import os
import resource
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from safetensors.numpy import save

from hubmem.errors import CorruptHeaderError, NoSafetensorsError
from hubmem.formats.json_reader import MAX_JSON_BYTES
from hubmem.pipeline import analyze_source
from hubmem.schema.options import Options
from hubmem.schema.report import Report

from support.scan_samples import Dims, llama_tensors

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")


def within(seconds: float, fn: Callable[[], Any]) -> Any:
    """``fn()`` in a worker thread; a hang fails the test instead of blocking it."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(fn).result(timeout=seconds)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def checkpoint(folder: Path, *, config: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.safetensors").write_bytes(save(llama_tensors(Dims())))
    if config:
        (folder / "config.json").write_text(json.dumps(Dims().config()))
    return folder


def report(path: Path) -> Report:
    result: Report = within(20, lambda: analyze_source(str(path), Options()))
    return result


def test_a_fifo_named_model_safetensors_is_corrupt_not_a_hang(tmp_path: Path) -> None:
    folder = checkpoint(tmp_path / "ckpt")
    (folder / "model.safetensors").unlink()
    os.mkfifo(folder / "model.safetensors")
    with pytest.raises(CorruptHeaderError, match="not a regular file \\(a FIFO\\)"):
        report(folder)
    with pytest.raises(NoSafetensorsError, match="not a regular file or folder"):
        report(folder / "model.safetensors")


@pytest.mark.parametrize("name", ["config.json", "quantize_config.json", "hf_quant_config.json"])
def test_a_fifo_config_or_companion_is_a_warning(tmp_path: Path, name: str) -> None:
    folder = checkpoint(tmp_path / "ckpt")
    target = folder / name
    target.unlink(missing_ok=True)
    os.mkfifo(target)
    got = report(folder)
    assert got.weights.tensors == len(llama_tensors(Dims()))
    assert any(name in w and "a FIFO" in w for w in got.warnings), got.warnings


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_config_linked_to_dev_zero_is_refused_without_reading_it(tmp_path: Path) -> None:
    folder = checkpoint(tmp_path / "ckpt", config=False)
    (folder / "config.json").symlink_to("/dev/zero")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    got = report(folder)
    assert any("config.json" in w and "a device" in w for w in got.warnings), got.warnings
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: nothing big read


def test_a_config_over_the_size_cap_is_refused_without_reading_it(tmp_path: Path) -> None:
    folder = checkpoint(tmp_path / "ckpt", config=False)
    with open(folder / "config.json", "wb") as fh:
        fh.truncate(MAX_JSON_BYTES + 1)  # sparse: no disk used
    got = report(folder)
    assert any("config.json" in w and "larger than" in w for w in got.warnings), got.warnings


def test_folders_named_like_files_are_not_read_as_files(tmp_path: Path) -> None:
    folder = checkpoint(tmp_path / "ckpt", config=False)
    (folder / "config.json").mkdir()
    (folder / "params.json").mkdir()
    got = report(folder)
    assert got.weights.tensors == len(llama_tensors(Dims()))
    assert any("no config.json" in w for w in got.warnings)
    bare = tmp_path / "bare"
    (bare / "model.safetensors").mkdir(parents=True)
    with pytest.raises(NoSafetensorsError):
        report(bare)


@pytest.mark.parametrize("odd", ["#", "²1", "٣"])
def test_a_layer_number_that_is_no_index_is_counted_without_a_layer(tmp_path: Path, odd: str) -> None:
    """``model.layers.#.…`` beside ``model.layers.5.…`` masks to one pattern; its number used to reach
    ``int()`` and end the report as an internal error."""
    names = ["model.layers.5.self_attn.q_proj.weight", f"model.layers.{odd}.self_attn.q_proj.weight"]
    header = {
        n: {"dtype": "F16", "shape": [4, 4], "data_offsets": [32 * i, 32 * i + 32]}
        for i, n in enumerate(names)
    }
    raw = json.dumps(header).encode()
    tmp_path.joinpath("model.safetensors").write_bytes(len(raw).to_bytes(8, "little") + raw + bytes(64))
    report = analyze_source(str(tmp_path), Options())
    assert report.weights.total_bytes == 64 and report.weights.tensors == 2
