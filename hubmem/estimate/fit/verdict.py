"""Will it fit? Inference and training verdicts on N GPUs of a kind (docs/theory.md sections 2.1 and 5).

Inference, per GPU, tensor parallel over ``tp`` GPUs::

    required = ceil(weights / tp) + kv(context, batch, tp) + workspace(tp)
    usable   = max(0, floor(memory x utilization) - reserve)   (a reserve above the share: nothing usable)
    fits     = required <= usable

* ``memory``: the total CUDA reports where the catalog knows it (``memory_basis="reported"``, the
  default), else the vendor figure (decimal GB) (``hubmem.estimate.fit.gpus``).
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
divisible by tp; KV heads divisible by tp or tp by KV heads). A tensor-parallel degree vLLM refuses is
reported as ``refusal`` ("vLLM would refuse: ...") and never fits.

This is the engine-neutral verdict (``--engine transformers``); with ``--engine vllm`` the verdict is
vLLM's own start-up accounting (``hubmem.estimate.fit.vllm``).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from hubmem.errors import BadOptionError
from hubmem.estimate.fit.common import (
    BATCH_SEARCH_CAP,
    CONTEXT_SEARCH_CAP,
    DEFAULT_CONTEXT,
    DEFAULT_RESERVE,
    INFERENCE_UTILIZATION,
    fmt,
    gib,
    gpu_candidates,
    largest_true,
    memory_of,
    resolve_gpu,
    tp_allowed,
    tp_refusal,
    usable_memory,
)
from hubmem.estimate.kv.per_rank import arch_for_tp
from hubmem.estimate.kv.report import estimate_kv_cache
from hubmem.estimate.training.optimizers import cdiv
from hubmem.schema.architecture import Architecture
from hubmem.schema.common import MemoryItem
from hubmem.schema.fit import FitOptions, FitReport, GPUSpec
from hubmem.schema.kv import KVOptions
from hubmem.schema.weights import WeightsReport

KVBytes = Callable[[int, int, int], int]  # (context, batch, tp) -> KV + state bytes per GPU


# ------------------------------------------------------------------------------------------ KV adapter


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
        return options.workspace_bytes, f"workspace given: {fmt(options.workspace_bytes)} B"
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
        f"{fmt(tokens)} batched tokens x 2 B x (2h + (q+2kv+o dims + 3I)/tp) = {fmt(tokens * per_token)} B"
        f" + sampler logits {options.max_num_seqs} seqs x V x 4 = {fmt(logits)} B (lower bound)"
    )
    return total, formula


# ------------------------------------------------------------------------------------------- inference


class _Inference(msgspec.Struct):
    """One inference verdict's inputs and its exact-integer need function."""

    arch: Architecture | None
    options: FitOptions
    spec: GPUSpec
    weights: int
    kv_bytes: KVBytes
    kv_missing: list[str]
    memory: int
    memory_text: str
    util: float
    reserve: int
    workspace: dict[int, int] = {}

    @property
    def usable(self) -> int:
        return usable_memory(self.memory, self.util, self.reserve)

    @property
    def model_max(self) -> int | None:
        return self.arch.max_context if self.arch is not None else None

    @property
    def context(self) -> int:
        return self.options.context or min(DEFAULT_CONTEXT, self.model_max or DEFAULT_CONTEXT)

    @property
    def cap(self) -> int:
        return self.options.context_limit or self.model_max or CONTEXT_SEARCH_CAP

    def need(self, ctx: int, batch: int, n: int) -> tuple[int, int, int]:
        if n not in self.workspace:
            self.workspace[n] = inference_workspace(self.arch, n, self.options)[0]
        return cdiv(self.weights, n), self.kv_bytes(ctx, batch, n), self.workspace[n]

    def fits(self, ctx: int, batch: int, n: int) -> bool:
        return sum(self.need(ctx, batch, n)) <= self.usable


def _setup(
    weights: WeightsReport | int,
    arch: Architecture | None,
    options: FitOptions,
    kv_bytes: KVBytes | None,
    gpu: GPUSpec | None,
) -> _Inference:
    kv_missing: list[str] = []
    if kv_bytes is None:
        if arch is None:
            raise ValueError("fit_inference needs kv_bytes or an architecture")
        kv_bytes = kv_function(arch)
        kv_missing = kv_incomplete(arch, options)
    spec = resolve_gpu(options, gpu)
    memory, memory_text = memory_of(spec, options.memory_basis)
    return _Inference(
        arch=arch,
        options=options,
        spec=spec,
        weights=weights if isinstance(weights, int) else weights.total_bytes,
        kv_bytes=kv_bytes,
        kv_missing=kv_missing,
        memory=memory,
        memory_text=memory_text,
        util=options.utilization if options.utilization is not None else INFERENCE_UTILIZATION,
        reserve=options.reserve_bytes if options.reserve_bytes is not None else DEFAULT_RESERVE,
    )


def _breakdown(inf: _Inference, need: tuple[int, int, int]) -> list[MemoryItem]:
    tp = inf.options.gpus
    tp_note = f" / tp={tp}" if tp > 1 else ""
    return [
        MemoryItem(
            name="weights",
            bytes=need[0],
            basis="exact" if tp == 1 else "projected",
            formula=f"exact checkpoint bytes {fmt(inf.weights)}{tp_note}",
        ),
        MemoryItem(
            name="kv cache",
            bytes=need[1],
            formula=f"context {fmt(inf.context)} x batch {inf.options.batch}, per GPU",
        ),
        MemoryItem(
            name="activation workspace",
            bytes=need[2],
            formula=inference_workspace(inf.arch, tp, inf.options)[1],
        ),
    ]


def _assumptions(inf: _Inference, candidates: list[int], refusal: str | None) -> list[str]:
    o = inf.options
    out = [
        inf.memory_text,
        f"usable = max(0, floor(memory x {inf.util:g}) - reserve {fmt(inf.reserve)} B) = {fmt(inf.usable)} B "
        f"({gib(inf.usable)})",
        f"utilization {inf.util:g}: vLLM gpu_memory_utilization default 0.9 (0.92 from 0.21)",
        f"reserve {gib(inf.reserve)}: CUDA context and non-torch memory (transformers anatomy: 1-2 GB); "
        "CUDA graphs can add 1-3 GiB (vLLM), not counted; --engine vllm uses vLLM's own budget instead",
        f"max_context searched up to {fmt(inf.cap)} tokens"
        + (" (the model's maximum context)" if inf.cap == inf.model_max and not o.context_limit else ""),
        "min_gpus candidates: "
        + ", ".join(str(n) for n in candidates)
        + f" ({'powers of two' if o.gpu_counts == 'pow2' else 'any count'} up to {o.max_gpus}, "
        "vLLM head divisibility)",
    ]
    if o.gpus > 1:
        out.append(
            "tensor parallel: weights split evenly (replicated norms ignored); "
            "KV heads per GPU max(1, nkv // tp)"
        )
    if refusal is not None:
        out.insert(0, refusal)
    if inf.kv_missing:
        out.insert(0, "KV cache NOT projected (" + "; ".join(inf.kv_missing) + "): the verdict omits it")
    return out


def _limits(inf: _Inference, refusal: str | None) -> tuple[int | None, int | None]:
    """(max context at the batch, max batch at the context); None where they are not projected."""
    o = inf.options
    if inf.kv_missing or refusal is not None:
        return None, None
    max_ctx = max(0, largest_true(lambda c: inf.fits(c, o.batch, o.gpus), 1, inf.cap))
    max_b = max(0, largest_true(lambda b: inf.fits(inf.context, b, o.gpus), 1, BATCH_SEARCH_CAP))
    return max_ctx, max_b


def fit_inference(
    weights: WeightsReport | int,
    arch: Architecture | None,
    options: FitOptions | None = None,
    *,
    kv_bytes: KVBytes | None = None,
    gpu: GPUSpec | None = None,
) -> FitReport:
    """Does the model fit for inference on ``options.gpus`` GPUs (tensor parallel) of ``options.gpu``?"""
    o = options or FitOptions()
    inf = _setup(weights, arch, o, kv_bytes, gpu)
    refusal = tp_refusal(arch, o.gpus)
    need = inf.need(inf.context, o.batch, o.gpus)
    required = sum(need)
    candidates = [n for n in gpu_candidates(o) if tp_allowed(arch, n)]
    max_ctx, max_b = _limits(inf, refusal)
    assumptions = _assumptions(inf, candidates, refusal)
    if max_b == BATCH_SEARCH_CAP:
        assumptions.append(f"max_batch reached its search cap {fmt(BATCH_SEARCH_CAP)}")
    return FitReport(
        mode="inference",
        gpu=inf.spec.name,
        gpus=o.gpus,
        memory_per_gpu_bytes=inf.memory,
        memory_basis=o.memory_basis,
        utilization=inf.util,
        reserve_bytes=inf.reserve,
        usable_bytes=inf.usable,
        weights_bytes=need[0],
        kv_bytes=need[1],
        workspace_bytes=need[2],
        required_bytes=required,
        headroom_bytes=inf.usable - required,
        fits=required <= inf.usable and refusal is None,
        refusal=refusal,
        context=inf.context,
        batch=o.batch,
        max_context=max_ctx,
        max_context_capped=max_ctx is not None and max_ctx == inf.cap,
        max_batch=max_b,
        min_gpus=next((n for n in candidates if inf.fits(inf.context, o.batch, n)), None),
        candidates=candidates,
        breakdown=_breakdown(inf, need),
        assumptions=assumptions,
    )
