"""The vLLM start-up view: what ``vllm serve`` would print, per GPU rank, for one model and settings.

Order of vLLM's own start-up (``EngineCore._initialize_kv_caches``): verify the config (refusals), load the
model on every worker (``weights.py``), profile (``budget.py``), size each worker's pool from its available
memory (``pages.py``, ``pool.py``), keep the smallest pool, check that one request of ``max_model_len`` fits.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from hubmem.estimate.engines.vllm import refusals
from hubmem.estimate.engines.vllm.budget import activation_peak, cuda_graphs, non_torch
from hubmem.estimate.engines.vllm.groups import PagedView
from hubmem.estimate.engines.vllm.lines import Printed, startup_lines
from hubmem.estimate.engines.vllm.pages import vllm_view
from hubmem.estimate.engines.vllm.pool import Pool, estimated_max_len, needed_bytes, num_blocks, pool_of
from hubmem.estimate.engines.vllm.rope import rope_spec
from hubmem.estimate.engines.vllm.settings import Settings, resolve_settings
from hubmem.estimate.engines.vllm.weights import StageWeights, weights_per_stage
from hubmem.estimate.kv.per_rank import arch_for_tp
from hubmem.estimate.kv.plan import CachePlan, build_plan
from hubmem.formats.safetensors import Tensor
from hubmem.schema.architecture import Architecture
from hubmem.schema.common import MemoryItem
from hubmem.schema.engines import VllmBudgetItem, VllmRank, VllmView
from hubmem.schema.options import Options

_POSITION_MARKERS = (".wpe.", "position_embeddings", "embed_positions")


class _Stage(msgspec.Struct):
    weights: StageWeights
    plan: CachePlan
    view: PagedView
    budget: list[VllmBudgetItem]
    available: int
    blocks: int


def _stage_plan(plan: CachePlan, stage: StageWeights, last: bool, num_layers: int) -> CachePlan:
    """The cache units of one pipeline stage (MTP draft layers sit on the last)."""
    keep = [c for c in plan.layers if c.index in stage.layers or (last and c.index >= num_layers)]
    return CachePlan(keep, plan.kv_dtype, plan.kv_bytes, plan.state_dtype, plan.assumptions, plan.missing)


def _budget(settings: Settings, arch: Architecture, stage: StageWeights, last: bool) -> list[VllmBudgetItem]:
    formula = ", ".join(f"{k} {v:,}" for k, v in stage.parts.items())
    items = [
        VllmBudgetItem(
            name="weights",
            bytes=stage.total,
            source="gpu_model_runner.py:load_model (DeviceMemoryProfiler) @0.8.5-0.28",
            formula=f"checkpoint tensors split per rank + buffers: {formula}",
        ),
        activation_peak(arch, settings, last_stage=last),
        non_torch(settings),
    ]
    graphs = cuda_graphs(settings, len(stage.layers))
    return items + ([graphs] if graphs is not None else [])


def _available(settings: Settings, requested: int, budget: list[VllmBudgetItem]) -> int:
    if settings.kv_cache_memory is not None:
        return settings.kv_cache_memory
    return requested - sum(item.bytes for item in budget if item.subtracted)


def _stages(
    settings: Settings, arch: Architecture, plan: CachePlan, weights: list[StageWeights], requested: int
) -> list[_Stage]:
    out = []
    kv = settings.kv_options()
    threshold = settings.era.group_size_threshold()
    for i, stage in enumerate(weights):
        last = i == len(weights) - 1
        stage_plan = _stage_plan(plan, stage, last, arch.num_layers or 0)
        view = vllm_view(stage_plan, arch, kv, settings.max_model_len, threshold=threshold)
        budget = _budget(settings, arch, stage, last)
        available = _available(settings, requested, budget)
        out.append(_Stage(stage, stage_plan, view, budget, available, num_blocks(available, view)))
    return out


def _rank(s: _Stage) -> VllmRank:
    parts = [MemoryItem(name=k, bytes=v, basis="projected") for k, v in s.weights.parts.items()]
    return VllmRank(
        pp_rank=s.weights.pp_rank,
        layers=len(s.weights.layers),
        model_loading_bytes=s.weights.total,
        weights=parts,
        budget=s.budget,
        available_kv_cache_bytes=s.available,
        num_blocks=s.blocks,
    )


def _refusal(settings: Settings, arch: Architecture, derived: tuple[int | None, str | None]) -> str | None:
    """A refusal before the model is loaded (argument parsing, config checks, model construction)."""
    for reason in (
        refusals.kv_dtype(settings),
        refusals.heads(arch, settings.tp),
        refusals.max_len(settings, *derived),
        refusals.fp8_blocks(arch, settings),
    ):
        if reason is not None:
            return reason
    return None


def _printed(settings: Settings, s: _Stage, pool: Pool, requested: int) -> Printed:
    by_name = {item.name: item.bytes for item in s.budget}
    return Printed(
        weights=s.weights.total,
        activation=by_name.get("activation peak", 0),
        non_torch=by_name.get("non-torch memory", 0),
        graphs=by_name.get("CUDA graphs", 0),
        requested=requested,
        total=settings.cuda_total,
        utilization=settings.utilization,
        available=s.available,
        tokens=pool.tokens,
        concurrency=pool.concurrency,
        max_model_len=settings.max_model_len,
        num_blocks=pool.num_blocks,
        block_bytes=s.view.block_bytes,
    )


class Startup(msgspec.Struct):
    """The view, and how many blocks one request of any length needs on the rank that decides (for the fit's
    max-context search)."""

    view: VllmView
    settings: Settings
    blocks_at: Callable[[int], int]


def project_startup(tensors: list[Tensor], arch: Architecture, options: Options, *, gpus: int = 1) -> Startup:
    """Project ``vllm serve`` for this model on ``options.gpu`` (H100 when none), per GPU rank."""
    learned = any(m in t.name for t in tensors for m in _POSITION_MARKERS)
    derived = rope_spec(arch, 2, learned_positions=learned)
    settings = resolve_settings(options, arch, derived_max_len=derived.derived_max_len, gpus=gpus)
    vllm_arch = arch.model_copy(update={"dtype": settings.model_dtype})
    rank_arch = arch_for_tp(vllm_arch, settings.tp)
    rope = rope_spec(vllm_arch, settings.dtype_bytes, learned_positions=learned)
    weights, notes = weights_per_stage(tensors, vllm_arch, settings, rope)
    requested = int(settings.cuda_total * settings.utilization)
    plan = build_plan(rank_arch, settings.kv_options())
    stages = _stages(settings, rank_arch, plan, weights, requested)
    view = _assemble(settings, vllm_arch, stages, requested, (rope.derived_max_len, rope.derived_key), notes)
    decide = min(stages, key=lambda s: (s.blocks, s.available))
    kv, threshold = settings.kv_options(), settings.era.group_size_threshold()

    def blocks_at(length: int) -> int:
        paged = vllm_view(decide.plan, rank_arch, kv, length, threshold=threshold).paged
        return sum(g.blocks_per_request for g in paged.groups) if paged is not None else 0

    return Startup(view, settings, blocks_at)


def _assemble(
    settings: Settings,
    arch: Architecture,
    stages: list[_Stage],
    requested: int,
    derived: tuple[int | None, str | None],
    notes: list[str],
) -> VllmView:
    decide = min(stages, key=lambda s: (s.blocks, s.available))
    pool = pool_of(decide.blocks, decide.view, settings.era, settings.max_model_len)
    needed = needed_bytes(decide.view)
    refusal = config_refusal = _refusal(settings, arch, derived)
    estimate = None
    if refusal is None:
        estimate = _estimate(settings, arch, decide)
        refusal = refusals.kv_budget(settings, decide.available, needed, pool.tokens, estimate)
    printed = _printed(settings, decide, pool, requested)
    pool_printed = refusal is None or settings.era.v0  # V0 prints its blocks before refusing
    lines = [] if config_refusal else startup_lines(printed, settings.era, pool=pool_printed)
    return VllmView(
        vllm_version=settings.era.text,
        gpu=settings.gpu.name,
        cuda_total_bytes=settings.cuda_total,
        cuda_total_source=settings.cuda_source,
        vendor_bytes=settings.gpu.memory_bytes,
        settings=settings.report(),
        requested_bytes=requested,
        model_loading_bytes=stages[0].weights.total,
        available_kv_cache_bytes=decide.available,
        num_blocks=pool.num_blocks,
        kv_cache_tokens=pool.tokens,
        max_concurrency=round(pool.concurrency, 4),
        max_model_len=settings.max_model_len,
        page_bytes_per_token=pool.page_bytes_per_token,
        groups=pool.groups,
        kv_needed_bytes=needed,
        estimated_max_model_len=estimate,
        budget=_requested_item(settings, requested) + decide.budget,
        ranks=[_rank(s) for s in stages],
        refusal=refusal,
        lines=lines,
        assumptions=settings.notes + notes + decide.view.assumptions + _weights_notes(stages),
        missing=decide.plan.missing + decide.view.missing,
    )


def _estimate(settings: Settings, arch: Architecture, s: _Stage) -> int:
    kv = settings.kv_options()
    threshold = settings.era.group_size_threshold()

    def needed_at(length: int) -> int:
        return needed_bytes(
            vllm_view(s.plan, arch_for_tp(arch, settings.tp), kv, length, threshold=threshold)
        )

    return estimated_max_len(s.available, settings.max_model_len, needed_at)


def _requested_item(settings: Settings, requested: int) -> list[VllmBudgetItem]:
    return [
        VllmBudgetItem(
            name="requested",
            bytes=requested,
            subtracted=False,
            source="gpu_worker.py:Worker.init_device @0.10.2-0.28 (requested_memory)",
            formula=f"gpu_memory_utilization {settings.utilization:g} x CUDA-reported total "
            f"{settings.cuda_total:,} B ({settings.cuda_source})",
        )
    ]


def _weights_notes(stages: list[_Stage]) -> list[str]:
    out: list[str] = []
    for s in stages:
        out += [n for n in s.weights.notes if n not in out]
        if s.weights.undetermined:
            out.append(
                "parallel style not determined for e.g. "
                + ", ".join(s.weights.undetermined)
                + f" ({s.weights.rules.get('undetermined', 0):,} B counted whole on every rank)"
            )
    return out
