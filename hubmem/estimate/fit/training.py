"""Will the training plan fit? The per-GPU projection of ``hubmem.estimate.training`` against one GPU kind
(theory.md section 4): ``usable = max(0, floor(memory x utilization) - reserve)`` with utilization 1.0
unless set."""

from __future__ import annotations

from hubmem.estimate.fit.common import (
    DEFAULT_RESERVE,
    TRAINING_UTILIZATION,
    fmt,
    gib,
    gpu_candidates,
    memory_of,
    resolve_gpu,
    usable_memory,
)
from hubmem.estimate.training.report import TrainingPlan, per_gpu_bytes, project_training
from hubmem.schema.common import MemoryItem
from hubmem.schema.fit import FitOptions, FitReport, GPUSpec
from hubmem.schema.training import TrainingReport


def _breakdown(report: TrainingReport) -> list[MemoryItem]:
    other = report.gradients_bytes + report.optimizer_bytes + report.gathered_bytes
    return [
        MemoryItem(name="weights", bytes=report.weights_bytes, formula="trainable + frozen weights per GPU"),
        MemoryItem(
            name="gradients + optimizer + gathered", bytes=other, formula=f"sharding {report.sharding}"
        ),
        MemoryItem(
            name="activations + logits",
            bytes=report.activations_bytes + report.logits_bytes,
            formula=f"micro-batch {report.micro_batch} x {report.seq_len} tokens",
        ),
    ]


def fit_training(
    plan: TrainingPlan,
    options: FitOptions | None = None,
    *,
    gpu: GPUSpec | None = None,
) -> FitReport:
    """Does the training plan fit on ``plan.options.gpus`` GPUs of ``options.gpu``?
    ``min_gpus`` projects the same plan for each candidate GPU count (a multiple of the tensor-parallel
    degree), so ZeRO/FSDP sharding shrinks the per-GPU states as N grows; the plan itself (model states,
    activations) is computed once."""
    options = options or FitOptions()
    spec = resolve_gpu(options, gpu)
    memory, memory_text = memory_of(spec, options.memory_basis)
    util = options.utilization if options.utilization is not None else TRAINING_UTILIZATION
    reserve = options.reserve_bytes if options.reserve_bytes is not None else DEFAULT_RESERVE
    usable = usable_memory(memory, util, reserve)
    report = project_training(plan)
    candidates = gpu_candidates(options, multiple_of=plan.options.tensor_parallel)
    breakdown = _breakdown(report)
    assumptions = [
        memory_text,
        f"usable = max(0, floor(memory x {util:g}) - reserve {fmt(reserve)} B) = {fmt(usable)} B "
        f"({gib(usable)})",
        "training: no engine budget (utilization 1.0 unless set); allocator fragmentation not modelled",
        "min_gpus candidates: " + ", ".join(str(n) for n in candidates),
        *report.assumptions,
    ]
    required = report.per_gpu_bytes
    return FitReport(
        mode="training",
        gpu=spec.name,
        gpus=plan.options.gpus,
        memory_per_gpu_bytes=memory,
        memory_basis=options.memory_basis,
        utilization=util,
        reserve_bytes=reserve,
        usable_bytes=usable,
        weights_bytes=report.weights_bytes,
        workspace_bytes=breakdown[2].bytes,
        other_bytes=breakdown[1].bytes,
        required_bytes=required,
        headroom_bytes=usable - required,
        fits=required <= usable,
        context=report.seq_len,
        batch=report.micro_batch,
        min_gpus=next((n for n in candidates if per_gpu_bytes(plan, n) <= usable), None),
        candidates=candidates,
        breakdown=breakdown,
        assumptions=assumptions,
    )
