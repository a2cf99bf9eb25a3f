"""vLLM's KV pages (docs/theory.md 2.3, 2.6): page sizes, groups, the hybrid block-size rule, and what one
request reserves.

References: ``vllm/v1/kv_cache_interface.py`` (``*Spec.page_size_bytes``, ``max_memory_usage_bytes``) and
``vllm/v1/core/kv_cache_utils.py`` (``get_kv_cache_groups``, ``unify_kv_cache_spec_page_size``,
``_get_kv_cache_groups_uniform_page_size``) @0.10.2 ... 0.19.0 and current main (001cabc1be16);
``model_executor/models/config.py:HybridAttentionMambaModelConfig.verify_and_update_config`` @0.13.0.

Per layer spec, the memory one request of ``max_model_len = context`` tokens needs, with
``mnbt = max_num_batched_tokens``:

* full / MLA:   ``cdiv(context, block) x page``
* sliding:      ``(cdiv(min(window - 1 + mnbt, context), block) + 1) x page``
* chunked:      ``cdiv(min(chunk + mnbt, context), block) x page``
* cross:        ``cdiv(encoder_tokens, block) x page``
* Mamba-like:   ``1 x page`` (``mamba_cache_mode="none"``, no speculative blocks)

Grouping: one group when every layer has the same spec type (the requirement is the sum over layers);
otherwise page sizes are unified by enlarging block sizes, layers of one spec are split into groups of
``group_size`` layers (the smallest layer count; the largest when it is below ``threshold x`` the smallest,
1.5 on current main, 1.25 in 0.14 - 0.19, never before), the last group of a type padded with padding
layers, and the requirement is ``group_size x page x sum over groups of blocks``. Attention + Mamba hybrids
first enlarge the attention block to ``16 x cdiv(mamba_page, 16 x attention_page_per_token)`` and pad the
Mamba page to the attention page.
"""

from __future__ import annotations

from hubmem.estimate.engines.vllm.groups import PagedView, Request, Slot, account, hybrid_groups
from hubmem.estimate.kv.plan import CacheLayer, CachePlan
from hubmem.estimate.training.optimizers import cdiv
from hubmem.schema.architecture import Architecture
from hubmem.schema.kv import KVGroup, KVOptions, PagedKV

ALIGN = 16  # attention block sizes are kept multiples of 16 (FlashAttention kernels)
MLA_BLOCK = 64  # FlashMLA kernels require 64-token blocks
DEFAULT_MNBT = 8192  # vllm serve's max_num_batched_tokens on >= 70 GiB GPUs, when none is given
CURRENT_THRESHOLD = 1.5  # group-size rule of current main


def _attention_page_per_token(plan: CachePlan, arch: Architecture) -> int:
    """``HybridAttentionMambaModelConfig``: attention page per token from the model-wide KV heads and head."""
    if arch.mla is not None:
        return (arch.mla.kv_lora_rank + arch.mla.qk_rope_head_dim) * plan.kv_bytes
    return 2 * (arch.num_kv_heads or 0) * (arch.head_dim or 0) * plan.kv_bytes


def _hybrid_block(
    plan: CachePlan, arch: Architecture, options: KVOptions, mamba_page: int, view: PagedView
) -> tuple[int, int] | None:
    """(attention block, Mamba page) of an attention + Mamba hybrid; None when the attention page is
    unknown."""
    a1 = _attention_page_per_token(plan, arch)
    if a1 <= 0:
        view.missing.append("vllm: attention page size unknown for the attention/Mamba block-size rule")
        return None
    block = ALIGN * cdiv(mamba_page, ALIGN * a1)
    if options.block_size is not None and options.block_size >= block:
        block = options.block_size
    view.assumptions.append(
        f"attention+Mamba hybrid: attention block = 16 x cdiv(mamba page {mamba_page:,}, "
        f"16 x {a1:,} B/token) -> {block} tokens"
    )
    if block * a1 > mamba_page:
        view.assumptions.append(
            f"Mamba page padded from {mamba_page:,} to the attention page {block * a1:,} B"
        )
        mamba_page = block * a1
    return block, mamba_page


def _block_and_mamba_page(
    plan: CachePlan, arch: Architecture, options: KVOptions, cached: list[CacheLayer], view: PagedView
) -> tuple[int, int | None] | None:
    attn = [layer for layer in cached if layer.vllm_type != "mamba"]
    states = [layer for layer in cached if layer.vllm_type == "mamba"]
    block = options.block_size or (MLA_BLOCK if arch.mla is not None else ALIGN)
    if options.block_size is None and not (states and attn):
        view.assumptions.append(
            "block_size default: 64 for MLA (FlashMLA)" if arch.mla is not None else "block_size default: 16"
        )
    if not states:
        return block, None
    mamba_page = max(layer.state_bytes for layer in states)
    view.assumptions.append(
        "Mamba-like state: one page per request (mamba_cache_mode='none', no speculative blocks)"
    )
    if not attn:
        return block, mamba_page
    return _hybrid_block(plan, arch, options, mamba_page, view)


def _hybrid_manager(options: KVOptions, cached: list[CacheLayer], notes: list[str]) -> bool:
    if not options.disable_hybrid_kv_cache_manager:
        return True
    vtypes = {layer.vllm_type for layer in cached}
    if "mamba" in vtypes and vtypes - {"mamba", "none"}:
        notes.append("--disable-hybrid-kv-cache-manager ignored: vLLM cannot unify attention and Mamba specs")
        return True
    if "full" in vtypes and vtypes & {"sliding", "chunked"}:
        notes.append("--disable-hybrid-kv-cache-manager: sliding/chunked layers reserve like full attention")
        return False
    return True


def _slots(
    plan: CachePlan, block: int, mamba_page: int | None, context: int, hybrid_manager: bool
) -> list[Slot]:
    cached = [(n, layer) for n, layer in enumerate(plan.layers) if layer.vllm_type != "none"]
    has_attention = any(layer.vllm_type != "mamba" for _, layer in cached)
    slots: list[Slot] = []
    for n, layer in cached:
        vtype, window = layer.vllm_type, layer.window
        if not hybrid_manager and vtype in ("sliding", "chunked"):
            vtype, window = "full", None
        if vtype == "mamba":
            page = (mamba_page or 0) if has_attention else layer.state_bytes
            slots.append(Slot(n, layer, vtype, None, context, page))
        else:
            slots.append(Slot(n, layer, vtype, window, block, block * layer.per_token))
    return slots


def vllm_view(
    plan: CachePlan,
    arch: Architecture,
    options: KVOptions,
    context: int,
    *,
    threshold: float | None = CURRENT_THRESHOLD,
) -> PagedView:
    """What vLLM reserves to admit one request of ``context`` tokens (theory.md 2.3, 2.6)."""
    request = Request(context, options.max_num_batched_tokens or DEFAULT_MNBT, threshold)
    view = PagedView(paged=None)
    cached = [layer for layer in plan.layers if layer.vllm_type != "none"]
    found = _block_and_mamba_page(plan, arch, options, cached, view)
    if found is None:
        return view
    block, mamba_page = found
    hybrid_manager = _hybrid_manager(options, cached, view.assumptions)
    view.assumptions.insert(
        0,
        f"engine=vllm: per-request reservation for max_model_len={context:,} (block_size {block}, "
        f"max_num_batched_tokens {request.mnbt:,}); used = blocks still referenced at the end of the request",
    )
    slots = _slots(plan, block, mamba_page, context, hybrid_manager)
    _fill(view, slots, request, block, hybrid_manager)
    return view


def _fill(view: PagedView, slots: list[Slot], request: Request, block: int, hybrid_manager: bool) -> None:
    if not slots:
        view.paged = PagedKV(
            block_size=block,
            max_num_batched_tokens=request.mnbt,
            hybrid_kv_cache_manager=hybrid_manager,
            group_size=0,
            reserved_bytes_per_request=0,
            used_bytes_per_request=0,
            logical_bytes_per_request=0,
        )
        return
    result = _uniform(slots, request, view) if _uniform_type(slots) else hybrid_groups(slots, request, view)
    if result is None:
        return
    groups, group_size, used = result
    view.paged = PagedKV(
        block_size=block,
        max_num_batched_tokens=request.mnbt,
        hybrid_kv_cache_manager=hybrid_manager,
        group_size=group_size,
        groups=groups,
        reserved_bytes_per_request=sum(view.bytes.values()),
        used_bytes_per_request=used,
        logical_bytes_per_request=sum(s.logical(request.context) for s in slots),
    )


def _uniform_type(slots: list[Slot]) -> bool:
    """vLLM ``UniformTypeKVCacheSpecs.is_uniform_type``: one group for the whole model."""
    if len({s.block for s in slots}) > 1:
        return False
    first = slots[0]
    if first.vtype in ("sliding", "chunked"):
        return all(s.vtype == first.vtype and s.window == first.window for s in slots)
    return all(s.vtype == first.vtype for s in slots)


def _uniform(slots: list[Slot], request: Request, view: PagedView) -> tuple[list[KVGroup], int, int]:
    context, mnbt = request.context, request.mnbt
    used = 0
    view.block_bytes = sum(s.page for s in slots)  # UniformTypeKVCacheSpecs: sum of the layers' pages
    for s in slots:
        blocks = s.blocks(context, mnbt)
        account(view, s, blocks, blocks * s.page)
        used += s.used_blocks(context) * s.page
    first = slots[0]
    group = KVGroup(
        kind=first.vtype,
        layers=len(slots),
        block_size=first.block,
        page_size_bytes=max(s.page for s in slots),
        blocks_per_request=max(s.blocks(context, mnbt) for s in slots),
        used_blocks_per_request=max(s.used_blocks(context) for s in slots),
    )
    view.assumptions.append(
        "one KV-cache group (every layer has the same spec type): requirement = sum over layers"
    )
    return [group], len(slots), used
