"""Headline parameters are the model's parameters (issue #14, the CLI): stored buffers (GPT-2's attn.bias
causal masks) shown apart and not added, a tied lm_head stored anyway counted once and said once, and no
note printed twice or contradicting another.

Expected figures: GPT-2 has 124,439,808 parameters (the figure its paper's "117M"/"124M" model is known by,
= 137,022,720 stored elements - 12 x 1,024 x 1,024 attn.bias mask elements); Qwen3-0.6B 596,049,920
(751,632,384 stored - its stored copy of the tied 151,936 x 1,024 lm_head)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from hubmem.fakehub.server import FakeHub

from support.cli import run_cli

pytestmark = pytest.mark.e2e

GPT2_MASKS = 12 * 1024 * 1024
QWEN_HEAD = 151_936 * 1024


def run(hub: FakeHub, tmp: Path, repo: str, *args: str) -> str:
    proc = run_cli(hub, repo, *args, tmp=tmp)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_gpt2_headline_leaves_the_mask_buffers_apart(fake_hub: FakeHub, tmp_path: Path) -> None:
    w = json.loads(run(fake_hub, tmp_path, "openai-community/gpt2", "--json"))["weights"]
    assert (w["model_parameters"], w["buffer_elements"]) == (124_439_808, GPT2_MASKS)
    assert w["parameters"] == 137_022_720 == w["model_parameters"] + GPT2_MASKS  # as the Hub counts them
    out = run(fake_hub, tmp_path, "openai-community/gpt2")
    assert (
        "124.44 M parameters (124,439,808) + 12,582,912 elements of stored buffers · 160 tensors in 1 file"
        in out
    )
    assert "137.02 M" not in out


def test_a_tied_head_stored_anyway_is_counted_once_and_said_once(fake_hub: FakeHub, tmp_path: Path) -> None:
    w = json.loads(run(fake_hub, tmp_path, "Qwen/Qwen3-0.6B", "--json"))["weights"]
    assert w["model_parameters"] == w["parameters"] - QWEN_HEAD == 596_049_920
    out = run(fake_hub, tmp_path, "Qwen/Qwen3-0.6B")
    assert "596.05 M parameters (596,049,920) · 311 tensors in 1 file" in out
    notes = [x for x in out.splitlines() if x.startswith("note: ")]
    assert sum("lm_head" in n for n in notes) == 1 and "stored anyway" in " ".join(notes)


@pytest.mark.parametrize("repo", ["openai-community/gpt2", "meta-llama/Llama-3.2-1B", "google/gemma-3-1b-it"])
def test_no_note_is_printed_twice(fake_hub: FakeHub, tmp_path: Path, repo: str) -> None:
    from hubmem.fakehub.fixtures.layout import READER_TOKEN

    proc = run_cli(fake_hub, repo, tmp=tmp_path, token=READER_TOKEN)
    notes = Counter(x for x in proc.stdout.splitlines() if x.startswith("note: "))
    assert notes and max(notes.values()) == 1
    assert sum("tied" in n for n in notes) == 1
