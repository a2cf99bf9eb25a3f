"""What every fit verdict shares: the GPU's memory, the candidate GPU counts, vLLM's tensor-parallel refusal,
and the exact-boundary search."""

from __future__ import annotations

from collections.abc import Callable

from hubmem.estimate.engines.vllm.refusals import heads
from hubmem.estimate.fit.gpus import find_gpu, load_catalog
from hubmem.schema.architecture import Architecture
from hubmem.schema.fit import FitOptions, GPUSpec

GiB = 2**30
DEFAULT_RESERVE = 3 * GiB // 2  # 1.5 GiB
DEFAULT_CONTEXT = 8192
INFERENCE_UTILIZATION = 0.9
TRAINING_UTILIZATION = 1.0
CONTEXT_SEARCH_CAP = 1 << 24  # when the model states no maximum context
BATCH_SEARCH_CAP = 1 << 20
REFUSED = "vLLM would refuse: "


def usable_memory(memory: int, utilization: float, reserve: int) -> int:
    """Bytes a GPU leaves to the model: its share of ``memory`` minus the reserve, never below 0 (a reserve
    above the share leaves nothing usable)."""
    return max(0, int(memory * utilization) - reserve)


def fmt(n: int) -> str:
    return f"{n:,}"


def gib(n: int) -> str:
    return f"{n / GiB:.2f} GiB"


def largest_true(pred: Callable[[int], bool], lo: int, hi: int) -> int:
    """Largest ``x`` in ``[lo, hi]`` with ``pred(x)``, for a monotone (True...True False...False) ``pred``.
    Returns ``lo - 1`` when ``pred(lo)`` is False."""
    if not pred(lo):
        return lo - 1
    if pred(hi):
        return hi
    ok, bad = lo, hi  # pred(ok) True, pred(bad) False
    while bad - ok > 1:
        mid = (ok + bad) // 2
        if pred(mid):
            ok = mid
        else:
            bad = mid
    return ok


def tp_refusal(arch: Architecture | None, n: int) -> str | None:
    """``"vLLM would refuse: <vLLM's message>"`` when tensor parallel ``n`` does not suit the heads."""
    if arch is None:
        return None
    reason = heads(arch, n)
    return None if reason is None else REFUSED + reason


def tp_allowed(arch: Architecture | None, n: int) -> bool:
    """vLLM's tensor-parallel checks: query heads divisible by tp; KV heads divisible by tp or tp by them."""
    return tp_refusal(arch, n) is None


def gpu_candidates(options: FitOptions, *, multiple_of: int = 1) -> list[int]:
    if options.gpu_counts == "pow2":
        counts = [1 << i for i in range(options.max_gpus.bit_length()) if 1 << i <= options.max_gpus]
    else:
        counts = list(range(1, options.max_gpus + 1))
    return [n for n in counts if n % multiple_of == 0]


def memory_of(spec: GPUSpec, basis: str) -> tuple[int, str]:
    """(bytes, how): the CUDA-reported total (``basis="reported"``, where the catalog knows it) or the
    vendor's."""
    vendor = f"{spec.name}: {spec.memory_gb:g} {spec.memory_unit} (vendor) = {fmt(spec.memory_bytes)} B"
    if basis == "reported" and spec.reported_bytes:
        return spec.reported_bytes, (
            f"{spec.name}: {fmt(spec.reported_bytes)} B as CUDA reports it ({spec.reported_source}); "
            f"vendor figure {fmt(spec.memory_bytes)} B"
        )
    if basis == "reported":
        vendor += " (no CUDA-reported total known for this GPU; vendor figure used)"
    return spec.memory_bytes, vendor + (f" ({spec.source})" if spec.source else "")


def resolve_gpu(options: FitOptions, gpu: GPUSpec | None) -> GPUSpec:
    if gpu is not None:
        return gpu
    return find_gpu(options.gpu, load_catalog(options.catalog))
