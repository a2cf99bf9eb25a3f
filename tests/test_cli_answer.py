"""The one-line answer first, --brief, --no-train, --verbose and --units si (issue #14, the CLI), through the
real CLI against the fake Hub.

Expected figures: the index's total_size of meta-llama/Llama-3.1-8B (16,060,522,496 B = 14.96 GiB = 16.06 GB,
fixtures/README.md), its KV cache per token (docs/theory.md 6.1: 32 x 8 x 256 x 2 B = 128 KiB, so 1 GiB at
8,192 tokens) and its max context (config.json: 131,072 = 128 x 1,024).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubmem.fakehub.fixtures.layout import READER_TOKEN
from hubmem.fakehub.server import FakeHub
from hubmem.render.units import human_bytes, short_tokens, units

from support.cli import run_cli

pytestmark = pytest.mark.e2e

LLAMA = "meta-llama/Llama-3.1-8B"
HEADLINE = "Llama-3.1-8B: 14.96 GiB weights; inference at 8k 15.96 GiB"


def out(hub: FakeHub | None, tmp: Path, *args: str) -> list[str]:
    proc = run_cli(hub, *args, token=READER_TOKEN, tmp=tmp)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_brief_is_the_answer_and_the_verdict(fake_hub: FakeHub, tmp_path: Path) -> None:
    lines = out(fake_hub, tmp_path, LLAMA, "--brief")
    assert len(lines) == 2
    assert lines[0] == f"{HEADLINE}; full fine-tune 142.13 GiB/GPU"
    assert lines[1].startswith("no verdict without a GPU: add --gpu")
    lines = out(fake_hub, tmp_path, LLAMA, "--brief", "--gpu", "h100")
    assert len(lines) == 2
    assert lines[0].startswith(f"{HEADLINE}; fits 1x H100-SXM up to 128k (the model's maximum); full")
    assert lines[1].startswith("fits: needs ") and "usable per GPU" in lines[1]


def test_demo_brief_offline(tmp_path: Path) -> None:
    lines = out(None, tmp_path, "demo", LLAMA, "--brief", "--gpu", "t4")
    assert len(lines) == 2 and lines[0].startswith(HEADLINE)
    assert "does not fit 1x T4 (fits 2x)" in lines[0] and lines[1].startswith("does not fit: needs ")


def test_report_starts_with_the_answer_and_hides_assumptions_unless_verbose(
    fake_hub: FakeHub, tmp_path: Path
) -> None:
    lines = out(fake_hub, tmp_path, LLAMA)
    assert lines[0].startswith(HEADLINE)
    assert lines[1].startswith(f"{LLAMA} @ main -> commit ")
    assert not any(x.startswith("assumes:") for x in lines)
    verbose = out(fake_hub, tmp_path, LLAMA, "--verbose")
    assert any(x.startswith("assumes: context defaults to 8,192 tokens") for x in verbose)


def test_no_train_leaves_training_out(fake_hub: FakeHub, tmp_path: Path) -> None:
    lines = out(fake_hub, tmp_path, LLAMA, "--no-train")
    assert lines[0] == HEADLINE
    assert not any(x.startswith("Training") for x in lines)
    data = json.loads("\n".join(out(fake_hub, tmp_path, LLAMA, "--no-train", "--json")))
    assert data["training"] is None
    # an explicit --train wins
    lines = out(fake_hub, tmp_path, LLAMA, "--no-train", "--train", "lora", "--brief")
    assert "LoRA" in lines[0]


def test_units_si_prints_decimal_gigabytes(fake_hub: FakeHub, tmp_path: Path) -> None:
    lines = out(fake_hub, tmp_path, LLAMA, "--units", "si")
    assert lines[0].startswith("Llama-3.1-8B: 16.06 GB weights; inference at 8k 17.13 GB")
    assert "GiB" not in lines[0]
    assert any(x.startswith("16.06 GB · 8.03 B parameters") for x in lines)


def test_units_and_contexts() -> None:
    assert human_bytes(16_060_522_496) == "14.96 GiB"
    with units("si"):
        assert human_bytes(16_060_522_496) == "16.06 GB"
        assert human_bytes(999) == "999 B"
    assert human_bytes(1 << 30) == "1.00 GiB"  # back to binary after the block
    assert [short_tokens(n) for n in (8192, 131_072, 117_500, 1000, 4096)] == [
        "8k",
        "128k",
        "118k",
        "1,000",
        "4k",
    ]
