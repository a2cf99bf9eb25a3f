"""KV cache and recurrent-state projection (docs/theory.md section 2).

Per layer and token (``b`` = bytes per element of the KV dtype):

* full / sliding / chunked attention: ``nkv x (head_dim + v_head_dim) x b`` (K and V);
* MLA: ``(kv_lora_rank + qk_rope_head_dim) x b`` - one latent, no factor 2; ``fp8_ds_mla`` = 656 B;
  DeepSeek-V3.2 adds its indexer key cache;
* cross-attention: the same per token, for a fixed number of encoder tokens;
* Mamba / gated DeltaNet / lightning / short conv: a fixed state per sequence (``state.py``).

Three engine views, each labelled in the report:

* ``engine="transformers"`` - tokens actually held by transformers' caches: DynamicCache by default
  (a sliding/chunked layer keeps its last ``window - 1`` tokens, ``DynamicSlidingWindowLayer``), or
  StaticCache with ``transformers_cache="static"`` (``min(window, context)`` slots).
* ``engine="vllm"`` - what vLLM's paged allocator reserves to admit a request of ``context`` tokens:
  block rounding, sliding/chunked reservation with ``max_num_batched_tokens``, hybrid groups with
  padding layers, Mamba page padding (``hubmem.estimate.engines.vllm.pages``).

* ``engine="llama.cpp"`` - the KV caches (cells, both caches of an iSWA model) and recurrent state llama.cpp
  allocates (:mod:`hubmem.estimate.engines.llamacpp.memory`).

When something needed is missing the report is still returned, with ``complete=False``, every total
0 and ``missing`` naming what is absent: a partial total would silently understate, so none is given.

Parts: ``kv_dtype.py`` (cache / state dtypes), ``kv_layers.py`` (bytes per token or state per layer),
``kv_held.py`` (tokens held per engine view); this module adds context, batch and scenarios.
"""

from __future__ import annotations

from hubmem.estimate.engines.llamacpp.memory import kv_report
from hubmem.estimate.engines.vllm.groups import PagedView
from hubmem.estimate.engines.vllm.pages import vllm_view
from hubmem.estimate.kv.held import Evaluation, aggregate, transformers_view
from hubmem.estimate.kv.plan import CachePlan, build_plan, fmt
from hubmem.schema.architecture import Architecture
from hubmem.schema.engines import LlamaCppOptions
from hubmem.schema.kv import KVCacheReport, KVOptions, KVScenario

DEFAULT_CONTEXT = 8192


def _context(arch: Architecture, options: KVOptions) -> tuple[int, str | None]:
    if options.context is not None:
        note = None
        if arch.max_context is not None and options.context > arch.max_context:
            note = f"context {fmt(options.context)} exceeds the model's max_context {fmt(arch.max_context)}"
        return options.context, note
    if arch.max_context is not None and arch.max_context < DEFAULT_CONTEXT:
        return (
            arch.max_context,
            f"context defaults to the model's max_context {fmt(arch.max_context)} (< 8,192)",
        )
    return DEFAULT_CONTEXT, "context defaults to 8,192 tokens"


def evaluate(
    plan: CachePlan, arch: Architecture, options: KVOptions, context: int
) -> tuple[Evaluation, PagedView | None]:
    """The chosen engine view at ``context``: tokens held (transformers) or reserved (vLLM)."""
    if options.engine == "vllm":
        view = vllm_view(plan, arch, options, context)
        by_kind = aggregate(plan.layers, view.tokens, view.bytes, view.padding)
        return Evaluation(by_kind, view.kv_reserved, view.state_reserved), view
    return transformers_view(plan, context, options.transformers_cache), None


_TRANSFORMERS_CACHES = {
    "dynamic": "engine=transformers, DynamicCache (generate() default): full layers hold every token; "
    "sliding/chunked layers keep their last window-1 tokens (DynamicSlidingWindowLayer)",
    "static": "engine=transformers, StaticCache(max_cache_len=context): full layers allocate context "
    "slots; sliding/chunked layers min(window, context) (StaticSlidingWindowLayer)",
}
_INCOMPLETE = "incomplete: totals are 0 rather than a partial figure; see missing"


def _mark_incomplete(report: KVCacheReport) -> KVCacheReport:
    report.complete = False
    report.bytes_per_token = report.bytes_per_token_all_layers = 0
    report.assumptions.append(_INCOMPLETE)
    return report


def _scenario(label: str, ev: Evaluation, context: int, batch: int) -> KVScenario:
    kv, state = ev.kv_bytes * batch, ev.state_bytes * batch
    return KVScenario(
        label=label, context=context, batch=batch, total_bytes=kv + state, kv_bytes=kv, state_bytes=state
    )


def estimate_kv_cache(
    arch: Architecture, options: KVOptions, llama_cpp: LlamaCppOptions | None = None
) -> KVCacheReport:
    """Project KV cache + recurrent state for ``options.batch`` sequences of ``options.context`` tokens
    (engine llama.cpp: as llama.cpp allocates them, under ``llama_cpp``'s settings)."""
    if options.engine == "llama.cpp":
        return kv_report(arch, options, llama_cpp)
    plan = build_plan(arch, options)
    context, context_note = _context(arch, options)
    batch = options.batch
    assumptions = ([context_note] if context_note else []) + list(plan.assumptions)
    if options.engine == "transformers":
        assumptions.insert(0, _TRANSFORMERS_CACHES[options.transformers_cache])
    report = KVCacheReport(
        engine=options.engine,
        dtype=plan.kv_dtype,
        state_dtype=plan.state_dtype,
        bytes_per_token=sum(layer.per_token for layer in plan.layers if layer.unbounded),
        bytes_per_token_all_layers=sum(
            layer.per_token for layer in plan.layers if layer.fixed_tokens is None
        ),
        context=context,
        batch=batch,
        total_bytes=0,
        assumptions=assumptions,
        missing=list(plan.missing),
    )
    if report.missing:
        return _mark_incomplete(report)
    ev, view = evaluate(plan, arch, options, context)
    if view is not None:
        report.assumptions.extend(view.assumptions)
        if view.missing:
            report.missing.extend(view.missing)
            return _mark_incomplete(report)
        report.paged = view.paged
    for entry in ev.by_kind.values():
        entry.bytes *= batch
    report.by_layer_kind = ev.by_kind
    requested = _scenario("requested", ev, context, batch)
    report.kv_bytes, report.state_bytes = requested.kv_bytes, requested.state_bytes
    report.state_bytes_per_sequence = ev.state_bytes
    report.total_bytes = requested.total_bytes
    report.scenarios.append(requested)
    if arch.max_context is not None and arch.max_context != context:
        ev_max, view_max = evaluate(plan, arch, options, arch.max_context)
        if not (view_max is not None and view_max.missing):
            report.scenarios.append(_scenario("max_context", ev_max, arch.max_context, batch))
    return report
