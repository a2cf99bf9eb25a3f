"""Will it fit? Inference and training verdicts on N GPUs of a kind (docs/theory.md sections 2.1 and 5).

Inference, per GPU, tensor parallel over ``tp`` GPUs::

    required = ceil(weights / tp) + kv(context, batch, tp) + workspace(tp)
    usable   = floor(memory x utilization) - reserve
    fits     = required <= usable

* ``memory``: the catalog's vendor figure (decimal GB) or, with ``memory_basis="reported"``, the
  driver-reported total where known (``hubmem.estimate.fit.gpus``).
* ``utilization`` 0.9 like vLLM's ``gpu_memory_utilization`` default ("It will use 90% of the total GPU
  memory by default"; 0.92 on current main) for inference, 1.0 for training; ``reserve`` 1.5 GiB for the
  CUDA context and non-torch allocations (transformers' model_memory_anatomy: "1-2GB", 1,343 MB measured).
* ``kv``: a callable ``kv_bytes(context, batch, tp) -> int`` (per GPU). ``kv_function(arch)`` builds it from
  ``estimate_kv_cache`` with vLLM's KV-head rule ``max(1, nkv // tp)`` (heads replicated when nkv < tp).
* ``workspace``: activation workspace of a ``max_num_batched_tokens`` forward + sampler logits for
  ``max_num_seqs`` sequences (see ``inference_workspace``); a lower bound, override with ``workspace_bytes``.

Solvers work on the exact integer function (binary search; sliding windows and paging make it non-linear):
``max_context`` is the largest T with fits(T) and not fits(T + 1) (or the cap, flagged), ``max_batch``
likewise, ``min_gpus`` the fewest GPUs among the candidates: powers of two up to ``max_gpus`` (8) by
default, or any count with ``gpu_counts="any"``; both keep vLLM's divisibility rules (query heads
divisible by tp; KV heads divisible by tp or tp by KV heads).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hubmem.errors import BadOptionError
from hubmem.estimate.fit.gpus import find_gpu, load_catalog
from hubmem.estimate.kv.report import estimate_kv_cache
from hubmem.estimate.training.optimizers import cdiv
from hubmem.estimate.training.report import TrainingPlan, per_gpu_bytes, project_training
from hubmem.schema.architecture import Architecture
from hubmem.schema.common import MemoryItem
from hubmem.schema.fit import FitOptions, FitReport, GPUSpec
from hubmem.schema.kv import KVOptions
from hubmem.schema.weights import WeightsReport

KVBytes = Callable[[int, int, int], int]  # (context, batch, tp) -> KV + state bytes per GPU

GiB = 2**30
DEFAULT_RESERVE = 3 * GiB // 2  # 1.5 GiB
DEFAULT_CONTEXT = 8192
INFERENCE_UTILIZATION = 0.9
TRAINING_UTILIZATION = 1.0
CONTEXT_SEARCH_CAP = 1 << 24  # when the model states no maximum context
BATCH_SEARCH_CAP = 1 << 20


# --------------------------------------------------------------------------------------------- helpers


def _fmt(n: int) -> str:
    return f"{n:,}"


def _gib(n: int) -> str:
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


def tp_allowed(arch: Architecture | None, n: int) -> bool:
    """vLLM's tensor-parallel checks: query heads divisible by tp; KV heads divisible by tp or tp by them."""
    if arch is None or n == 1:
        return True
    nh = arch.num_attention_heads
    if nh and nh % n:
        return False
    nkv = arch.num_kv_heads or nh
    return not (nkv and nkv % n and n % nkv)


def gpu_candidates(options: FitOptions, arch: Architecture | None, *, multiple_of: int = 1) -> list[int]:
    if options.gpu_counts == "pow2":
        counts = [1 << i for i in range(options.max_gpus.bit_length()) if 1 << i <= options.max_gpus]
    else:
        counts = list(range(1, options.max_gpus + 1))
    return [n for n in counts if n % multiple_of == 0]


def memory_of(spec: GPUSpec, basis: str) -> tuple[int, str]:
    if basis == "reported" and spec.reported_bytes:
        return (
            spec.reported_bytes,
            f"{spec.name}: {_fmt(spec.reported_bytes)} B driver-reported total ({spec.source})",
        )
    text = f"{spec.name}: {spec.memory_gb:g} {spec.memory_unit} (vendor) = {_fmt(spec.memory_bytes)} B"
    if basis == "reported":
        text += " (no driver-reported total known for this GPU; vendor figure used)"
    return spec.memory_bytes, text + (f" ({spec.source})" if spec.source else "")


def _resolve_gpu(options: FitOptions, gpu: GPUSpec | None) -> GPUSpec:
    if gpu is not None:
        return gpu
    return find_gpu(options.gpu, load_catalog(options.catalog))


# ------------------------------------------------------------------------------------------ KV adapter


def arch_for_tp(arch: Architecture, tp: int) -> Architecture:
    """The per-GPU architecture under tensor parallel ``tp``: KV heads ``max(1, nkv // tp)`` (theory 2.1,
    vLLM ``get_num_kv_heads``); recurrent heads/channels split likewise; MLA latents are not split."""
    if tp == 1:
        return arch
    update: dict[str, Any] = {}
    nkv = arch.num_kv_heads or arch.num_attention_heads
    if nkv:
        update["num_kv_heads"] = max(1, nkv // tp)
    if arch.layer_kv_heads is not None:
        update["layer_kv_heads"] = [max(1, n // tp) if n else n for n in arch.layer_kv_heads]
    if arch.mamba is not None:
        m = arch.mamba
        update["mamba"] = m.model_copy(
            update={
                "intermediate_size": max(1, m.intermediate_size // tp),
                "num_heads": max(1, m.num_heads // tp) if m.num_heads else m.num_heads,
                "n_groups": max(1, m.n_groups // tp),
            }
        )
    if arch.linear_attention is not None:
        la = arch.linear_attention
        update["linear_attention"] = la.model_copy(
            update={
                "num_key_heads": max(1, la.num_key_heads // tp),
                "num_value_heads": max(1, la.num_value_heads // tp),
            }
        )
    return arch.model_copy(update=update)


REFUSED_BYTES = 1 << 62  # what a size the engine refuses "needs": more than any GPU has


def kv_function(arch: Architecture, kv_options: KVOptions | None = None) -> KVBytes:
    """``kv_bytes(context, batch, tp)`` from ``hubmem.estimate.kv.report.estimate_kv_cache`` (per GPU)."""
    base = kv_options or KVOptions()
    per_tp: dict[int, Architecture] = {}

    def kv_bytes(context: int, batch: int, tp: int) -> int:
        a = per_tp.get(tp)
        if a is None:
            a = per_tp[tp] = arch_for_tp(arch, tp)
        try:
            report = estimate_kv_cache(a, base.model_copy(update={"context": context, "batch": batch}))
        except BadOptionError:  # the engine refuses this size (llama.cpp: over 256 sequences): no fit
            return REFUSED_BYTES
        return int(report.total_bytes)

    return kv_bytes


def kv_incomplete(arch: Architecture, options: FitOptions) -> list[str]:
    """Why ``estimate_kv_cache`` cannot project this architecture (empty when it can)."""
    report = estimate_kv_cache(arch, KVOptions(context=options.context, batch=options.batch))
    return [] if report.complete else list(report.missing) or ["incomplete"]


# ----------------------------------------------------------------------------------- workspace estimate


def inference_workspace(arch: Architecture | None, tp: int, options: FitOptions) -> tuple[int, str]:
    """Transient activations of one ``max_num_batched_tokens`` forward (16-bit): residual + normed hidden
    ``2h``, QKV output, attention output, gate/up output ``2I`` and SiLU output ``I`` per token (the
    sharded ones ``/tp``), + fp32 sampler logits for ``max_num_seqs`` sequences. A lower bound: measured
    vLLM peaks are larger (Llama-3.1-8B, 8192 batched tokens: 4.76 GiB, llm-d; theory section 5)."""
    if options.workspace_bytes is not None:
        return options.workspace_bytes, f"workspace given: {_fmt(options.workspace_bytes)} B"
    if arch is None or not arch.hidden_size:
        return 0, "workspace not estimated (hidden size unknown)"
    h = arch.hidden_size
    nh = arch.num_attention_heads or 1
    hd = arch.head_dim or h // nh
    nkv = max(1, (arch.num_kv_heads or nh) // tp) * tp
    inter = arch.intermediate_size or 4 * h
    if arch.num_experts:  # routed tokens: k experts' MLP widths
        routed = (arch.experts_per_token or 1) * (arch.moe_intermediate_size or inter)
        inter = max(inter, routed) if arch.first_dense_layers else routed
    sharded = (nh + 2 * nkv) * hd + nh * hd + 3 * inter
    per_token = 2 * (2 * h + sharded // tp)
    tokens = options.max_num_batched_tokens
    logits = options.max_num_seqs * (arch.vocab_size or 0) * 4
    total = tokens * per_token + logits
    formula = (
        f"{_fmt(tokens)} batched tokens x 2 B x (2h + (q+2kv+o dims + 3I)/tp) = {_fmt(tokens * per_token)} B"
        f" + sampler logits {options.max_num_seqs} seqs x V x 4 = {_fmt(logits)} B (lower bound)"
    )
    return total, formula


# ------------------------------------------------------------------------------------------- inference


def fit_inference(
    weights: WeightsReport | int,
    arch: Architecture | None,
    options: FitOptions | None = None,
    *,
    kv_bytes: KVBytes | None = None,
    gpu: GPUSpec | None = None,
) -> FitReport:
    """Does the model fit for inference on ``options.gpus`` GPUs (tensor parallel) of ``options.gpu``?"""
    options = options or FitOptions()
    spec = _resolve_gpu(options, gpu)
    kv_missing: list[str] = []
    if kv_bytes is None:
        if arch is None:
            raise ValueError("fit_inference needs kv_bytes or an architecture")
        kv_bytes = kv_function(arch)
        kv_missing = kv_incomplete(arch, options)
    total_weights = weights if isinstance(weights, int) else weights.total_bytes
    memory, memory_text = memory_of(spec, options.memory_basis)
    util = options.utilization if options.utilization is not None else INFERENCE_UTILIZATION
    reserve = options.reserve_bytes if options.reserve_bytes is not None else DEFAULT_RESERVE
    usable = int(memory * util) - reserve
    model_max = arch.max_context if arch is not None else None
    context = options.context or min(DEFAULT_CONTEXT, model_max or DEFAULT_CONTEXT)
    batch = options.batch
    tp = options.gpus

    workspace: dict[int, int] = {}

    def need(ctx: int, b: int, n: int) -> tuple[int, int, int]:
        if n not in workspace:
            workspace[n] = inference_workspace(arch, n, options)[0]
        return cdiv(total_weights, n), kv_bytes(ctx, b, n), workspace[n]

    def fits(ctx: int, b: int, n: int) -> bool:
        return sum(need(ctx, b, n)) <= usable

    w_gpu, kv_gpu, ws_gpu = need(context, batch, tp)
    ws_text = inference_workspace(arch, tp, options)[1]
    required = w_gpu + kv_gpu + ws_gpu
    cap = options.context_limit or model_max or CONTEXT_SEARCH_CAP
    max_ctx: int | None = max(0, largest_true(lambda c: fits(c, batch, tp), 1, cap))
    max_b: int | None = max(0, largest_true(lambda b: fits(context, b, tp), 1, BATCH_SEARCH_CAP))
    candidates = [n for n in gpu_candidates(options, arch) if tp_allowed(arch, n)]
    min_gpus = next((n for n in candidates if fits(context, batch, n)), None)

    tp_note = f" / tp={tp}" if tp > 1 else ""
    breakdown = [
        MemoryItem(
            name="weights",
            bytes=w_gpu,
            basis="exact" if tp == 1 else "projected",
            formula=f"exact checkpoint bytes {_fmt(total_weights)}{tp_note}",
        ),
        MemoryItem(
            name="kv cache", bytes=kv_gpu, formula=f"context {_fmt(context)} x batch {batch}, per GPU"
        ),
        MemoryItem(name="activation workspace", bytes=ws_gpu, formula=ws_text),
    ]
    assumptions = [
        memory_text,
        f"usable = floor(memory x {util:g}) - reserve {_fmt(reserve)} B = {_fmt(usable)} B ({_gib(usable)})",
        f"utilization {util:g}: vLLM gpu_memory_utilization default 0.9 (0.92 on current main)",
        f"reserve {_gib(reserve)}: CUDA context and non-torch memory (transformers anatomy: 1-2 GB); "
        "CUDA graphs can add 1-3 GiB (vLLM), not counted",
        f"max_context searched up to {_fmt(cap)} tokens"
        + (" (the model's maximum context)" if cap == model_max and not options.context_limit else ""),
        "min_gpus candidates: "
        + ", ".join(str(n) for n in candidates)
        + f" ({'powers of two' if options.gpu_counts == 'pow2' else 'any count'} up to {options.max_gpus}, "
        "vLLM head divisibility)",
    ]
    if tp > 1:
        assumptions.append(
            "tensor parallel: weights split evenly (replicated norms ignored); "
            "KV heads per GPU max(1, nkv // tp)"
        )
        if not tp_allowed(arch, tp):
            assumptions.append(f"tp={tp} does not divide the attention heads: vLLM would refuse it")
    if kv_missing:
        assumptions.insert(0, "KV cache NOT projected (" + "; ".join(kv_missing) + "): the verdict omits it")
        max_ctx = max_b = None
    if max_b == BATCH_SEARCH_CAP:
        assumptions.append(f"max_batch reached its search cap {_fmt(BATCH_SEARCH_CAP)}")
    return FitReport(
        mode="inference",
        gpu=spec.name,
        gpus=tp,
        memory_per_gpu_bytes=memory,
        memory_basis=options.memory_basis,
        utilization=util,
        reserve_bytes=reserve,
        usable_bytes=usable,
        weights_bytes=w_gpu,
        kv_bytes=kv_gpu,
        workspace_bytes=ws_gpu,
        required_bytes=required,
        headroom_bytes=usable - required,
        fits=required <= usable,
        context=context,
        batch=batch,
        max_context=max_ctx,
        max_context_capped=max_ctx is not None and max_ctx == cap,
        max_batch=max_b,
        min_gpus=min_gpus,
        candidates=candidates,
        breakdown=breakdown,
        assumptions=assumptions,
    )


# -------------------------------------------------------------------------------------------- training


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
    spec = _resolve_gpu(options, gpu)
    memory, memory_text = memory_of(spec, options.memory_basis)
    util = options.utilization if options.utilization is not None else TRAINING_UTILIZATION
    reserve = options.reserve_bytes if options.reserve_bytes is not None else DEFAULT_RESERVE
    usable = int(memory * util) - reserve

    training, arch = plan.options, plan.model.arch
    report = project_training(plan)
    required = report.per_gpu_bytes
    candidates = gpu_candidates(options, arch, multiple_of=training.tensor_parallel)
    min_gpus = next((n for n in candidates if per_gpu_bytes(plan, n) <= usable), None)
    other = report.gradients_bytes + report.optimizer_bytes + report.gathered_bytes
    workspace = report.activations_bytes + report.logits_bytes
    breakdown = [
        MemoryItem(name="weights", bytes=report.weights_bytes, formula="trainable + frozen weights per GPU"),
        MemoryItem(
            name="gradients + optimizer + gathered", bytes=other, formula=f"sharding {report.sharding}"
        ),
        MemoryItem(
            name="activations + logits",
            bytes=workspace,
            formula=f"micro-batch {report.micro_batch} x {report.seq_len} tokens",
        ),
    ]
    assumptions = [
        memory_text,
        f"usable = floor(memory x {util:g}) - reserve {_fmt(reserve)} B = {_fmt(usable)} B ({_gib(usable)})",
        "training: no engine budget (utilization 1.0 unless set); allocator fragmentation not modelled",
        "min_gpus candidates: " + ", ".join(str(n) for n in candidates),
        *report.assumptions,
    ]
    return FitReport(
        mode="training",
        gpu=spec.name,
        gpus=training.gpus,
        memory_per_gpu_bytes=memory,
        memory_basis=options.memory_basis,
        utilization=util,
        reserve_bytes=reserve,
        usable_bytes=usable,
        weights_bytes=report.weights_bytes,
        workspace_bytes=workspace,
        other_bytes=other,
        required_bytes=required,
        headroom_bytes=usable - required,
        fits=required <= usable,
        context=report.seq_len,
        batch=report.micro_batch,
        min_gpus=min_gpus,
        candidates=candidates,
        breakdown=breakdown,
        assumptions=assumptions,
    )
