"""A training fit that fails says what would fit (issue #14): the largest sequence length and micro-batch
(boundaries: the next one up does not fit), gradient checkpointing, ZeRO-3 over the fewest GPUs, QLoRA;
each alternative checked by projecting it directly. The model is Llama-3.1-8B's shape (test_fit_training)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_fit_training import plan

from hubmem.estimate.fit.training import fit_training
from hubmem.estimate.fit.training_advice import largest
from hubmem.estimate.training.report import per_gpu_bytes
from hubmem.fakehub.server import FakeHub
from hubmem.schema.fit import FitOptions
from hubmem.schema.training import TrainingOptions

from support.cli import run_cli


def need(**options: object) -> int:
    p = plan(TrainingOptions.model_validate(options))
    return per_gpu_bytes(p, p.options.gpus)


def test_largest_is_a_boundary() -> None:
    assert largest(1, 100, lambda x: x <= 37) == 37
    assert largest(1, 100, lambda x: False) == 0
    assert largest(1, 100, lambda x: True) == 100


def test_lora_on_an_a100_names_the_largest_seq_len_and_micro_batch() -> None:
    fit = fit_training(
        plan(TrainingOptions(method="lora", seq_len=16384, micro_batch=2)), FitOptions(gpu="A100-80")
    )
    assert not fit.fits
    seq, batch = fit.max_context, fit.max_batch
    assert seq is not None and 0 < seq < 16384
    assert need(method="lora", seq_len=seq, micro_batch=2) <= fit.usable_bytes
    assert need(method="lora", seq_len=seq + 1, micro_batch=2) > fit.usable_bytes
    assert batch == 0  # not even one sequence of 16,384 tokens
    assert any(s.startswith("--gradient-checkpointing: ") for s in fit.suggestions)
    assert (
        need(method="lora", seq_len=16384, micro_batch=2, gradient_checkpointing="full") <= fit.usable_bytes
    )


def test_full_finetune_on_one_h100_suggests_zero3_and_qlora() -> None:
    fit = fit_training(plan(TrainingOptions()), FitOptions(gpu="H100-SXM"))
    assert not fit.fits and fit.max_context == 0 and fit.max_batch == 0
    zero = next(s for s in fit.suggestions if s.startswith("--zero 3 --gpus "))
    gpus = int(zero.split()[3])
    ckpt = "full" if "--gradient-checkpointing" in zero else "none"
    assert need(zero=3, gpus=gpus, gradient_checkpointing=ckpt) <= fit.usable_bytes
    if gpus > 2:  # the fewest: one GPU less does not fit
        assert need(zero=3, gpus=gpus // 2, gradient_checkpointing=ckpt) > fit.usable_bytes
    assert any(s.startswith("--train qlora") for s in fit.suggestions)


def test_a_fitting_plan_suggests_nothing() -> None:
    fit = fit_training(plan(TrainingOptions(method="qlora")), FitOptions(gpu="H100-SXM"))
    assert fit.fits and fit.suggestions == [] and fit.max_context is None


@pytest.mark.e2e
def test_cli_says_what_would_fit(fake_hub: FakeHub, tmp_path: Path) -> None:
    from hubmem.fakehub.fixtures.layout import READER_TOKEN

    args = ("meta-llama/Llama-3.1-8B", "--train", "full", "--gpu", "h100")
    proc = run_cli(fake_hub, *args, tmp=tmp_path, token=READER_TOKEN)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "full fine-tune 142.13 GiB/GPU, does not fit 1x H100-SXM (fits with --zero 3 --gpus" in lines[0]
    assert any(x.startswith("would fit: --zero 3 --gpus ") for x in lines)
    proc = run_cli(fake_hub, *args, "--json", tmp=tmp_path, token=READER_TOKEN)
    assert json.loads(proc.stdout)["fit"]["suggestions"]
