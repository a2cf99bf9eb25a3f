"""Memory against context and every catalog GPU at one context (``curve=true``: the page's plot and table).

Nothing here is a new formula: a curve point is the inference verdict's own per-GPU terms (weights / tp, the
KV + state of ``kv_function`` at that context, the verdict's other terms) and a table row is
``fit_inference`` on one GPU of each catalog kind.
"""

from __future__ import annotations

from hubmem.estimate.fit.common import CONTEXT_SEARCH_CAP, DEFAULT_CONTEXT, fmt
from hubmem.estimate.fit.gpus import load_catalog
from hubmem.estimate.fit.verdict import REFUSED_BYTES, KVBytes, fit_inference, kv_function
from hubmem.estimate.fit.vllm import StartupFor
from hubmem.schema.architecture import Architecture
from hubmem.schema.fit import CurvePoint, FitOptions, FitReport, GPUFitRow, MemoryCurve
from hubmem.schema.options import Options
from hubmem.schema.weights import WeightsReport

CURVE_POINTS = 24
CURVE_START = 256  # the first context of the axis (or the model's maximum when smaller)
NO_MAX_CONTEXT = 131_072  # the axis' end when the model states no maximum context


def inference_fit_options(options: Options, gpu: str, gpus: int) -> FitOptions:
    """The verdict's options for ``gpus`` GPUs of ``gpu`` from the caller's options (KV context and batch)."""
    kv = options.kv
    return FitOptions(
        gpu=gpu,
        gpus=gpus,
        context=kv.context,
        batch=kv.batch,
        utilization=options.gpu_utilization,
        max_num_batched_tokens=kv.max_num_batched_tokens or FitOptions().max_num_batched_tokens,
    )


def curve_contexts(max_context: int, also: int | None = None, points: int = CURVE_POINTS) -> list[int]:
    """``points`` log-spaced contexts from 256 (a 64th of ``max_context`` when that is less) to
    ``max_context`` (both included), plus ``also``."""
    lo = max(1, min(CURVE_START, max_context // 64))
    ratio = (max_context / lo) ** (1 / (points - 1)) if max_context > lo else 1.0
    out = {min(max_context, round(lo * ratio**i)) for i in range(points)} | {max_context}
    if also is not None and 1 <= also <= max_context:
        out.add(also)
    return sorted(out)


def vllm_kv_bytes(startup_for: StartupFor) -> KVBytes:
    """vLLM's own KV reservation for ``batch`` requests of a length: the pool blocks one request of that
    length takes x the bytes a block costs (the admission check's need for max_model_len over its blocks;
    pages are one size for every group)."""

    def kv_bytes(context: int, batch: int, gpus: int) -> int:
        s = startup_for(gpus)
        full = s.blocks_at(s.view.max_model_len)
        return batch * s.blocks_at(context) * s.view.kv_needed_bytes // full if full else 0

    return kv_bytes


def memory_curve(
    base: FitReport, kv_bytes: KVBytes, max_context: int, *, gpu_chosen: bool, kv_source: str
) -> MemoryCurve:
    """``base``'s terms at each context of the axis: its weights and other terms (constant in context) and
    the KV + state ``kv_bytes`` projects for that context, at ``base``'s batch and GPU count."""
    batch, gpus = base.batch or 1, base.gpus
    overhead = base.required_bytes - base.weights_bytes - base.kv_bytes
    points = []
    for ctx in curve_contexts(max_context, base.context):
        kv = kv_bytes(ctx, batch, gpus)
        if kv >= REFUSED_BYTES:
            continue  # the engine refuses this size at any context
        required = base.weights_bytes + kv + overhead
        fits = base.refusal is None and required <= base.usable_bytes
        points.append(
            CurvePoint(
                context=ctx,
                weights_bytes=base.weights_bytes,
                kv_bytes=kv,
                overhead_bytes=overhead,
                required_bytes=required,
                fits=fits,
            )
        )
    where = f"{gpus} x {base.gpu}" if gpu_chosen else f"{gpus} GPU(s)"
    assumptions = [
        f"per GPU on {where}, batch {batch}: weights / tp, KV cache + state ({kv_source}) at each "
        f"context, and the verdict's other terms at context {fmt(base.context or 0)} "
        f"({fmt(overhead)} B, constant in context)",
    ]
    if base.refusal is not None:
        assumptions.insert(0, base.refusal)
    return MemoryCurve(
        engine=base.engine,
        context=base.context,
        gpu=base.gpu if gpu_chosen else None,
        gpus=gpus,
        batch=batch,
        memory_per_gpu_bytes=base.memory_per_gpu_bytes if gpu_chosen else None,
        usable_bytes=base.usable_bytes if gpu_chosen else None,
        max_context=max_context,
        points=points,
        assumptions=assumptions,
    )


def gpu_table(
    weights: WeightsReport | int, arch: Architecture, fit_options: FitOptions, kv_bytes: KVBytes
) -> list[GPUFitRow]:
    """Each catalog GPU kind at ``fit_options``' context and batch: the engine-neutral inference verdict on
    one GPU, and the fewest GPUs of that kind that fit."""
    rows = []
    for spec in load_catalog().values():
        one = fit_options.model_copy(update={"gpu": spec.name, "gpus": 1})
        r = fit_inference(weights, arch, one, kv_bytes=kv_bytes, gpu=spec)
        rows.append(
            GPUFitRow(
                gpu=spec.name,
                vendor=spec.vendor,
                memory_gb=spec.memory_gb,
                memory_unit=spec.memory_unit,
                memory_per_gpu_bytes=r.memory_per_gpu_bytes,
                usable_bytes=r.usable_bytes,
                required_bytes=r.required_bytes,
                min_gpus=r.min_gpus,
                max_context=r.max_context,
                refusal=r.refusal,
            )
        )
    return rows


def page_figures(
    weights: WeightsReport | int,
    arch: Architecture,
    options: Options,
    fit: FitReport | None,
    gpus: int,
    startup_for: StartupFor | None = None,
) -> tuple[MemoryCurve, list[GPUFitRow]]:
    """The curve for the inference verdict ``fit`` (or, without one, an engine-neutral verdict on ``gpus``
    GPUs of the default kind, drawn without its usable line) and the catalog table at its context. A vLLM
    verdict (``startup_for``) is drawn with vLLM's own KV reservation per context."""
    kv_bytes = kv_function(arch, options.kv)
    fit_options = inference_fit_options(options, options.gpu or FitOptions().gpu, gpus)
    base = fit
    if base is None or base.mode != "inference":
        base = fit_inference(weights, arch, fit_options, kv_bytes=kv_bytes)
    max_context = arch.max_context or max(NO_MAX_CONTEXT, base.context or DEFAULT_CONTEXT)
    max_context = min(max_context, CONTEXT_SEARCH_CAP)
    curve_kv, kv_source = kv_bytes, f"the {options.kv.engine} KV view"
    if startup_for is not None and base.engine == "vllm":
        curve_kv, kv_source = vllm_kv_bytes(startup_for), "vLLM's pool blocks for that length x block bytes"
    curve = memory_curve(base, curve_kv, max_context, gpu_chosen=options.gpu is not None, kv_source=kv_source)
    table_options = fit_options.model_copy(update={"context": base.context, "batch": base.batch or 1})
    return curve, gpu_table(weights, arch, table_options, kv_bytes)
