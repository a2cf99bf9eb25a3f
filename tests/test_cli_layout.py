"""The terminal report reads well (issue #14, the CLI): not a TTY, lines are not broken inside a figure
(no unit on a line of its own); singular and plural right; encoder-only models say "no KV cache" in one
line; MLA shown as its latent ("MLA latent 512+64", not "1 KV heads, head dim 576"); layers without
attention named by their feed-forward (moe), never "none"."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hubmem.fakehub.fixtures.layout import READER_TOKEN
from hubmem.fakehub.server import FakeHub

from support.cli import run_cli

pytestmark = pytest.mark.e2e


def report(hub: FakeHub, tmp: Path, repo: str, *args: str) -> list[str]:
    proc = run_cli(hub, repo, *args, tmp=tmp, token=READER_TOKEN)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_a_narrow_pipe_never_splits_a_figure_from_its_unit(fake_hub: FakeHub, tmp_path: Path) -> None:
    env = dict(os.environ, HF_ENDPOINT=fake_hub.endpoint, HF_TOKEN=READER_TOKEN, COLUMNS="60")
    env["HUBMEM_CACHE"] = str(tmp_path / "cache")
    args = ["meta-llama/Llama-3.1-8B", "--gpu", "h100", "--verbose", "--train", "lora"]
    proc = subprocess.run(
        [sys.executable, "-m", "hubmem", *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for before, after in itertools.pairwise(lines):
        assert not (re.search(r"\d$", before.rstrip()) and re.match(r"\s*(TiB|GiB|MiB|KiB|B)\b", after)), (
            before,
            after,
        )
    assumes = [x for x in lines if x.startswith("assumes: ")]
    assert assumes and all(not x.startswith(" ") for x in lines if "assumes" in x)
    assert any(len(x) > 60 for x in assumes)  # not a terminal: long lines are kept whole


def test_singular_and_plural(fake_hub: FakeHub, tmp_path: Path) -> None:
    gpt2 = "\n".join(report(fake_hub, tmp_path, "openai-community/gpt2"))
    assert "160 tensors in 1 file" in gpt2 and "Training (full, adamw, 1 GPU)" in gpt2
    assert "291 tensors in 4 files" in "\n".join(report(fake_hub, tmp_path, "meta-llama/Llama-3.1-8B"))
    gemma = "\n".join(report(fake_hub, tmp_path, "google/gemma-3-1b-it"))
    assert "4 heads / 1 KV head ·" in gemma and "1 KV heads" not in gemma


def test_encoder_only_says_no_kv_cache_in_one_line(fake_hub: FakeHub, tmp_path: Path) -> None:
    lines = report(fake_hub, tmp_path, "google-bert/bert-base-uncased")
    assert "KV cache: none (encoder-only model: no KV cache)" in lines
    assert not any(x.startswith("KV cache (") for x in lines)
    assert "inference 420.02 MiB (encoder-only: no KV cache)" in lines[0]


def test_mla_is_shown_as_its_latent(fake_hub: FakeHub, tmp_path: Path) -> None:
    arch = report(fake_hub, tmp_path, "deepseek-ai/DeepSeek-V3", "--no-train")[4]
    assert "128 heads · MLA latent 512+64 · vocab" in arch
    assert "KV heads" not in arch and "head dim 576" not in arch


def test_layers_without_attention_are_named(fake_hub: FakeHub, tmp_path: Path) -> None:
    text = "\n".join(report(fake_hub, tmp_path, "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", "--no-train"))
    assert "layers: 23 x mamba2, 23 x moe (no attention), 6 x full" in text
    assert "moe: 23 layers, 0 B" in text
    assert "none" not in text


def test_the_gpu_table_keeps_its_verdict_column_in_80_columns(fake_hub: FakeHub, tmp_path: Path) -> None:
    """Piped (80 columns), the 1/2/4/8-GPU table once lost its verdict column to the wide headers, so a size
    vLLM refuses showed only as '-'; now every row says its verdict, the refused one 'vLLM refuses'."""
    lines = report(fake_hub, tmp_path, "Qwen/Qwen3-8B", "--gpu", "h100", "-tp", "3")
    head = next(i for i, text in enumerate(lines) if text.startswith("GPUs"))
    assert "verdict" in lines[head] and all(len(text) <= 80 for text in lines[head : head + 6])
    rows = {text.split()[0]: text for text in lines[head + 1 : head + 6]}
    assert "vLLM refuses" in rows["3"] and all("fits" in rows[n] for n in ("1", "2", "4", "8"))
