"""What would fit when a training plan does not (issue #14): the largest sequence length at the micro-batch,
the largest micro-batch at the sequence length, and the one-change alternatives users reach for first
(gradient checkpointing, ZeRO-3 over N GPUs, QLoRA), each projected with the same accounting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hubmem.estimate.fit.common import gib
from hubmem.estimate.training.report import TrainingPlan, per_gpu_bytes, plan_training

MAX_SEARCH = 1 << 20  # the largest micro-batch (and fallback sequence length) searched


def largest(lo: int, hi: int, ok: Callable[[int], bool]) -> int:
    """The largest ``x`` in ``[lo, hi]`` with ``ok(x)`` (``ok`` monotone: true then false), 0 when none."""
    if hi < lo or not ok(lo):
        return 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid - 1)
    return lo


class _Projector:
    """Per-GPU bytes of the plan with some options changed (each re-planned with the same accounting)."""

    def __init__(self, plan: TrainingPlan) -> None:
        self.plan = plan

    def need(self, **change: Any) -> int:
        options = self.plan.options.model_copy(update=change)
        return per_gpu_bytes(plan_training(self.plan.model, options), options.gpus)


def largest_sizes(plan: TrainingPlan, usable: int) -> tuple[int, int]:
    """(largest sequence length at the micro-batch, largest micro-batch at the sequence length) that fit."""
    p, opts = _Projector(plan), plan.options
    top = max(plan.model.arch.max_context or 0, opts.seq_len)
    seq = largest(1, top, lambda s: p.need(seq_len=s) <= usable)
    batch = largest(1, MAX_SEARCH, lambda b: p.need(micro_batch=b) <= usable)
    return seq, batch


def _zero3(p: _Projector, usable: int, candidates: list[int], gpu: str) -> str | None:
    """The fewest GPUs that ZeRO-3 needs (with checkpointing when it alone is not enough)."""
    full = p.plan.options.gradient_checkpointing == "full"
    for gpus in (n for n in candidates if n > 1):
        for ckpt in ("full",) if full else ("none", "full"):
            n = p.need(zero=3, gpus=gpus, gradient_checkpointing=ckpt)
            if n <= usable:
                extra = " --gradient-checkpointing" if ckpt == "full" and not full else ""
                return f"--zero 3 --gpus {gpus}{extra}: {gib(n)} per {gpu}"
    return None


def what_fits(plan: TrainingPlan, usable: int, candidates: list[int], gpu: str) -> list[str]:
    """One-change alternatives that fit, in the words of the options to add."""
    p, opts, out = _Projector(plan), plan.options, []
    if opts.gradient_checkpointing != "full" and (n := p.need(gradient_checkpointing="full")) <= usable:
        out.append(f"--gradient-checkpointing: {gib(n)} per GPU")
    if opts.fsdp == "none" and opts.zero != 3 and (zero := _zero3(p, usable, candidates, gpu)) is not None:
        out.append(zero)
    if opts.method != "qlora" and (n := p.need(method="qlora", gradient_checkpointing="full")) <= usable:
        out.append(f"--train qlora (with gradient checkpointing): {gib(n)} per GPU")
    return out
