"""The start-up budget besides the weights: activation peak, non-torch memory, CUDA graphs.

``Available KV cache memory = requested - weights - activation peak - non-torch`` (``gpu_worker.py:
determine_available_memory`` with ``utils.memory_profiling`` @0.9.1 ... 0.19.0), ``- CUDA graphs`` from 0.21,
``requested = gpu_memory_utilization x total`` (``Worker.init_device``, total = what CUDA reports).

**Activation peak** (``gpu_model_runner.py:profile_run`` @0.10.2 ... 0.28): one forward of
``T = max_num_batched_tokens`` tokens over ``N = min(max_num_seqs, T)`` dummy requests without attention
metadata, then the sampler on ``N`` rows (temperature 0.5, top-k ``V - 1``, top-p 0.9: no greedy shortcut).
The forward's intermediates are freed before the sampler runs; the final hidden states stay alive::

    A = max(A_fwd, A_smp + T x H x b + 2 x N x H x b)
    A_fwd = T x b x (3 H + MLP)        residual + normed input + layer input, and the MLP's
                                       gate_up (2 I / tp) + silu_and_mul (I / tp), or the fused-MoE caches
                                       top_k x (3 I_moe / tp_moe + H) (``fused_moe.py``), whichever is larger
    A_smp = k x N x V                  k bytes per logit of the top-k/top-p path taken:
                                       38 PyTorch sort, 18 Triton (>= 0.17, N >= 8), 10 FlashInfer

(38 = bf16 logits 2 + fp32 copy 4 + sorted values 4 + int64 indices 8 + radix-sort buffers 4 + 8 + 8.) The
V0 engine (< 0.8) profiles ``max(max_model_len, 2048)`` tokens and its sampler peak stays below the forward's.
Pipeline stages before the last run no sampler.

**Non-torch** (NCCL, custom all-reduce buffers, kernels loaded after the start-up snapshot) and **CUDA
graphs** are measured by vLLM, not derivable: documented ranges from the profile lines of real logs
(shared/engine-logs, llm-d), with a point inside each range used for the figures.
"""

from __future__ import annotations

from hubmem.estimate.engines.vllm.settings import Settings
from hubmem.schema.architecture import Architecture
from hubmem.schema.engines import VllmBudgetItem

GiB = 1 << 30
SAMPLER_BYTES_PER_LOGIT = {"pytorch": 38, "triton": 18, "flashinfer": 10}
_PROFILE = "gpu_model_runner.py:profile_run @0.10.2-0.28"
_WORKER = "gpu_worker.py:determine_available_memory (utils.memory_profiling) @0.9.1-0.19.0"


def _gib(x: float) -> int:
    return int(x * GiB)


def _mlp_per_token(arch: Architecture, settings: Settings) -> tuple[int, str]:
    """Peak MLP elements per token: a dense gated MLP or the fused-MoE intermediate caches."""
    h = arch.hidden_size or 0
    dense = 0
    if not arch.num_experts or arch.first_dense_layers or arch.family.mlp_only_layers:
        dense = 3 * (arch.intermediate_size or 4 * h) // settings.tp
    moe = 0
    if arch.num_experts:
        tp_moe = 1 if settings.ep > 1 else settings.tp
        inter = arch.moe_intermediate_size or arch.intermediate_size or 0
        moe = (arch.experts_per_token or 1) * (3 * inter // tp_moe + h)
    if moe > dense:
        return moe, f"fused-MoE caches top_k x (3 I_moe/tp + H) = {moe:,}"
    return dense, f"gate_up + silu_and_mul 3 I/tp = {dense:,}"


def activation_peak(arch: Architecture, settings: Settings, *, last_stage: bool) -> VllmBudgetItem:
    """``A``: the torch peak of the profile run above what was allocated before it."""
    b, h, tokens = settings.dtype_bytes, arch.hidden_size or 0, settings.mnbt
    mlp, mlp_text = _mlp_per_token(arch, settings)
    forward = tokens * b * (3 * h + mlp)
    fwd_text = f"forward {tokens:,} tokens x {b} B x (3 H {3 * h:,} + {mlp_text}) = {forward:,}"
    if settings.era.v0 or not last_stage:
        why = "V0 engine: forward only" if settings.era.v0 else "not the last pipeline stage: no sampler"
        return VllmBudgetItem(
            name="activation peak", bytes=forward, source=_PROFILE, formula=f"{fwd_text} ({why})"
        )
    rows, vocab = settings.profile_rows, arch.vocab_size or 0
    k = SAMPLER_BYTES_PER_LOGIT[settings.sampler]
    sampler = k * rows * vocab + tokens * h * b + 2 * rows * h * b
    smp_text = (
        f"sampler ({settings.sampler}) {k} B x {rows:,} rows x vocab {vocab:,} + hidden states "
        f"{tokens:,} x H x {b} + 2 x {rows:,} x H x {b} = {sampler:,}"
    )
    return VllmBudgetItem(
        name="activation peak",
        bytes=max(forward, sampler),
        source=_PROFILE + "; sample/ops/topk_topp_sampler.py",
        formula=f"max({fwd_text}; {smp_text})",
    )


def non_torch(settings: Settings) -> VllmBudgetItem:
    """``T``: non-torch memory created after the start-up snapshot (V0 / 0.8: all of it, CUDA context
    included). Observed: tp=1 0.07-0.13 GiB (H100), tp>1 over NVLink 0.55-1.38 GiB, over PCIe 0.17-0.21 GiB
    per worker (L40S x 8); V0 tp=1 0.35 GiB."""
    if settings.tp * settings.pp == 1:
        point, low, high, why = (
            0.15,
            0.05,
            0.5,
            "one GPU: cuBLAS / attention kernels loaded after the snapshot",
        )
    elif settings.gpu.nvlink is False:
        point, low, high, why = 0.25, 0.15, 0.5, "PCIe: NCCL buffers, no custom all-reduce beyond 2 GPUs"
    else:
        point, low, high, why = 0.5, 0.2, 1.4, "NVLink: NCCL + custom all-reduce IPC buffers"
    if settings.era.absolute_non_torch:
        point, low, high = point + 0.2, low + 0.2, high + 0.2
        why += "; V0 / 0.8 count all non-torch memory, the CUDA context (~0.2-0.35 GiB) included"
    return VllmBudgetItem(
        name="non-torch memory",
        bytes=_gib(point),
        low_bytes=_gib(low),
        high_bytes=_gib(high),
        source=_WORKER + "; worker/worker.py @0.6.4",
        formula=f"{point:g} GiB, range {low:g}-{high:g} GiB ({why}); measured by vLLM, not derivable",
    )


def capture_sizes(max_num_seqs: int, mnbt: int) -> list[int]:
    """``config._set_cudagraph_sizes`` @0.10.2: ``[1, 2, 4] + [8, 16, ...]`` up to ``min(2 x max_num_seqs,
    512)``, none above ``max_num_batched_tokens``."""
    top = min(2 * max_num_seqs, 512)
    return [s for s in [1, 2, 4, *range(8, top + 1, 8)] if s <= min(top, mnbt)]


def cuda_graphs(settings: Settings, layers: int) -> VllmBudgetItem | None:
    """CUDA-graph memory (``gpu_model_runner.py:capture_model`` / ``profile_cudagraph_memory``): subtracted
    from the budget from 0.21 (``VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS`` default 1); before, captured after
    the pool is sized, on top of ``requested``. Observed 0.1-3.45 GiB (0.004-0.049 GiB per layer at 67
    capture sizes); None with ``enforce_eager``."""
    if not settings.graphs:
        return None
    sizes = len(capture_sizes(settings.max_num_seqs, settings.mnbt))
    scale = min(1.0, sizes / 67)
    point, low, high = 0.02 * layers * scale, 0.1 * scale, max(0.1, 0.05 * layers * scale)
    when = (
        "subtracted (>= 0.21)"
        if settings.era.graphs_subtracted
        else "not subtracted (< 0.21): needs room above"
    )
    return VllmBudgetItem(
        name="CUDA graphs",
        bytes=_gib(point),
        low_bytes=_gib(low),
        high_bytes=_gib(high),
        subtracted=settings.era.graphs_subtracted,
        source="gpu_model_runner.py:capture_model / profile_cudagraph_memory @0.10.2-0.28",
        formula=f"{sizes} capture sizes x {layers} layers: ~0.02 GiB per layer at 67 sizes, range "
        f"{low:.2f}-{high:.2f} GiB; {when}; measured by vLLM, not derivable",
    )
