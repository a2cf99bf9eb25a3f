"""The fit verdict on vLLM's own start-up accounting (``--engine vllm``), no fixed reserve.

``usable`` is what vLLM requests (``gpu_memory_utilization x`` the total CUDA reports); ``required`` is what
the rank that decides spends before the pool (weights, activation peak, non-torch, CUDA graphs where the
release subtracts them) plus ``batch`` requests of ``context`` tokens as the pool reserves them. It fits when
vLLM would start (no refusal) and the pool holds ``batch`` such requests at once:
``batch x blocks per request <= num_blocks`` (``max_concurrency >= batch``). ``context`` is ``max_model_len``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from hubmem.estimate.fit.common import REFUSED, fmt, largest_true, tp_allowed
from hubmem.schema.architecture import Architecture
from hubmem.schema.common import MemoryItem
from hubmem.schema.fit import FitReport

if TYPE_CHECKING:  # the vLLM projection's module: imported by the vLLM engine's runs only
    from hubmem.estimate.engines.vllm.startup import Startup

StartupFor = Callable[[int], "Startup"]  # GPU count -> the projection on that many GPUs


def _serves(s: Startup, batch: int, length: int) -> bool:
    return s.view.refusal is None and batch * s.blocks_at(length) <= s.view.num_blocks


def _breakdown(s: Startup, batch: int) -> list[MemoryItem]:
    view = s.view
    items = [
        MemoryItem(name=item.name, bytes=item.bytes, formula=f"{item.formula} (vLLM {item.source})")
        for item in view.budget
        if item.subtracted
    ]
    items.append(
        MemoryItem(
            name="kv cache",
            bytes=batch * view.kv_needed_bytes,
            formula=f"{batch} x {fmt(view.kv_needed_bytes)} B reserved per request of max_model_len "
            f"{fmt(view.max_model_len)} (vLLM pages and groups)",
        )
    )
    return items


def _limits(s: Startup, batch: int) -> tuple[int | None, int | None]:
    """(max context at ``batch``, max batch at the context) the pool admits; None when vLLM refuses."""
    view = s.view
    if view.refusal is not None and not view.refusal.startswith("To serve"):
        return None, None
    cap = view.max_model_len
    max_ctx = max(0, largest_true(lambda n: batch * s.blocks_at(n) <= view.num_blocks, 1, cap))
    per_request = s.blocks_at(view.max_model_len)
    return max_ctx, view.num_blocks // per_request if per_request else 0


def fit_vllm(
    startup_for: StartupFor, gpus: int, batch: int, arch: Architecture, counts: list[int]
) -> FitReport:
    """The verdict for ``batch`` requests of ``max_model_len`` tokens on ``gpus`` GPUs, vLLM's accounting."""
    s = startup_for(gpus)
    view = s.view
    breakdown = _breakdown(s, batch)
    required = sum(item.bytes for item in breakdown)
    candidates = [n for n in counts if tp_allowed(arch, n)]
    refusal = None if view.refusal is None else REFUSED + view.refusal
    max_ctx, max_batch = _limits(s, batch)
    by_name = {item.name: item.bytes for item in breakdown}
    assumptions = [*([refusal] if refusal else []), *_assumptions(s)]
    return FitReport(
        mode="inference",
        engine="vllm",
        gpu=view.gpu,
        gpus=gpus,
        memory_per_gpu_bytes=view.cuda_total_bytes,
        memory_basis="reported",
        utilization=s.settings.utilization,
        reserve_bytes=0,
        usable_bytes=view.requested_bytes,
        weights_bytes=by_name.get("weights", 0),
        kv_bytes=by_name["kv cache"],
        workspace_bytes=required - by_name.get("weights", 0) - by_name["kv cache"],
        required_bytes=required,
        headroom_bytes=view.requested_bytes - required,
        fits=_serves(s, batch, view.max_model_len),
        refusal=refusal,
        context=view.max_model_len,
        batch=batch,
        max_context=max_ctx,
        max_context_capped=max_ctx is not None and max_ctx == view.max_model_len,
        max_batch=max_batch,
        min_gpus=next((n for n in candidates if _serves(startup_for(n), batch, view.max_model_len)), None),
        candidates=candidates,
        breakdown=breakdown,
        assumptions=assumptions,
    )


def _assumptions(s: Startup) -> list[str]:
    view = s.view
    return [
        f"vLLM {view.vllm_version} start-up accounting (--engine vllm): usable = gpu_memory_utilization "
        f"{s.settings.utilization:g} x CUDA-reported total {fmt(view.cuda_total_bytes)} B = "
        f"{fmt(view.requested_bytes)} B ({view.cuda_total_source}); vendor figure {fmt(view.vendor_bytes)} B",
        "fits = vLLM starts and its pool holds batch requests of max_model_len at once "
        "(max concurrency >= batch); "
        "no fixed reserve: activation peak, non-torch memory and CUDA graphs are vLLM's own terms",
        f"max_context searched up to max_model_len {fmt(view.max_model_len)}",
    ]
