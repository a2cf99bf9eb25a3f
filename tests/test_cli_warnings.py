"""Warnings on stderr and in ``warnings[]`` for what users get wrong (issue #14, the CLI): a context above the
model's maximum, LoRA targets that match nothing (with the module names that exist), one shard of a sharded
checkpoint given as a file, options the chosen mode ignores, a local ``.bin`` path."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from hubmem.fakehub.server import FakeHub

from support.cli import run_cli
from support.paths import fixture_path

pytestmark = pytest.mark.e2e

QWEN = "Qwen/Qwen3-0.6B"  # config.json: max_position_embeddings 40,960


def warned(hub: FakeHub | None, tmp: Path, *args: str) -> tuple[list[str], list[str]]:
    """(the report's warnings[], the stderr warning lines) of one run."""
    proc = run_cli(hub, *args, "--json", tmp=tmp)
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    stderr = [x.removeprefix("warning: ") for x in proc.stderr.splitlines() if x.startswith("warning: ")]
    assert stderr == data["warnings"]  # the same warnings, one line each
    return data["warnings"], stderr


def test_context_above_the_models_maximum(fake_hub: FakeHub, tmp_path: Path) -> None:
    warnings, _ = warned(fake_hub, tmp_path, QWEN, "--max-model-len", "65536")
    assert any(w.startswith("--context 65,536 is above the model's maximum context 40,960") for w in warnings)
    assert warned(fake_hub, tmp_path, QWEN, "--context", "40960")[0] == []


def test_lora_targets_that_match_nothing_name_the_modules_there(fake_hub: FakeHub, tmp_path: Path) -> None:
    warnings, _ = warned(fake_hub, tmp_path, QWEN, "--train", "lora", "--target-modules", "q_proj,qkv_proj")
    (w,) = warnings
    assert w.startswith("LoRA target modules qkv_proj match no module of this model")
    assert "its Linear modules: down_proj, gate_proj, k_proj, o_proj, q_proj, up_proj, v_proj" in w
    (w,) = warned(fake_hub, tmp_path, QWEN, "--train", "qlora", "--target-modules", "c_attn")[0]
    assert "no target matches" in w and "not found in the base model" in w


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (["--train", "full", "--lora-r", "8"], "--rank/--lora-r: LoRA options, ignored with --train full"),
        (["--zero", "3"], "ZeRO-3 on 1 GPU shards nothing"),
        (["--max-num-seqs", "8"], "--max-num-seqs: vLLM options, ignored by the transformers view"),
        (
            ["-ngl", "99", "--no-mmap"],
            "--n-gpu-layers, --no-mmap: llama.cpp options, ignored by the transformers",
        ),
    ],
)
def test_options_the_mode_ignores(fake_hub: FakeHub, tmp_path: Path, args: list[str], start: str) -> None:
    warnings, _ = warned(fake_hub, tmp_path, QWEN, *args)
    assert [w for w in warnings if w.startswith(start)], warnings


def _safetensors(path: Path) -> None:
    header = json.dumps({"w": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(8))


def test_one_shard_given_as_a_file(tmp_path: Path) -> None:
    shard = tmp_path / "model-00001-of-00004.safetensors"
    _safetensors(shard)
    warnings = warned(None, tmp_path, str(shard))[0]
    assert warnings[0].startswith(
        "model-00001-of-00004.safetensors is one shard of 4: the figures are for this file only"
    )


def test_a_local_bin_file_is_projected_from_its_config(tmp_path: Path) -> None:
    config = fixture_path("repos", "Qwen__Qwen3-0.6B", "files", "config.json").read_text()
    (tmp_path / "config.json").write_text(config)
    (tmp_path / "pytorch_model.bin").write_bytes(b"PK\x03\x04 not opened")
    for arg in ("pytorch_model.bin", str(tmp_path / "pytorch_model.bin")):
        proc = run_cli(None, arg, "--json", tmp=tmp_path)
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        assert data["weights"]["source"] == "config"
        assert data["warnings"][0].startswith("pytorch_model.bin is a PyTorch pickle (torch.save)")
        assert "warning: pytorch_model.bin is a PyTorch pickle" in proc.stderr
    (tmp_path / "config.json").unlink()
    proc = run_cli(None, "./pytorch_model.bin", tmp=tmp_path)
    assert proc.returncode != 0 and "no config.json beside it" in proc.stderr
