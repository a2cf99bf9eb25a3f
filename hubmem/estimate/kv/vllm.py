"""The vLLM engine view: what the paged KV allocator reserves for one request (docs/theory.md 2.3, 2.6).

Reference: vLLM ``vllm/v1/kv_cache_interface.py`` and ``vllm/v1/core/kv_cache_utils.py`` @001cabc1be16,
``vllm/model_executor/models/config.py`` @0144dd5b (``HybridAttentionMambaModelConfig``).

Per layer spec, the memory one request of ``max_model_len = context`` tokens needs
(``max_memory_usage_bytes``), with ``mnbt = max_num_batched_tokens``:

* full / MLA:   ``cdiv(context, block) x page``
* sliding:      ``(cdiv(min(window - 1 + mnbt, context), block) + 1) x page``
* chunked:      ``cdiv(min(chunk + mnbt, context), block) x page``
* cross:        ``cdiv(encoder_tokens, block) x page``
* Mamba-like:   ``1 x page`` (``mamba_cache_mode="none"``, no speculative blocks)

Grouping (``get_kv_cache_groups``): one group when all layers have the same spec type (then the
requirement is the sum over layers); otherwise page sizes are unified by enlarging block sizes,
layers of one spec are split into groups of ``group_size`` layers (the smallest layer count, or the
largest when it is < 1.5x the smallest), the last group of a type padded with padding layers, and the
requirement is ``group_size x page x sum over groups of blocks`` (``_max_memory_usage_bytes_from_groups``).
Attention + Mamba hybrids first enlarge the attention block to ``16 x cdiv(mamba_page, 16 x
attention_page_per_token)`` and pad the Mamba page to the attention page.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from hubmem.estimate.kv.plan import CacheLayer, CachePlan
from hubmem.schema.architecture import Architecture
from hubmem.schema.kv import KVGroup, KVOptions, PagedKV

ALIGN = 16  # attention block sizes are kept multiples of 16 (FlashAttention kernels)
MLA_BLOCK = 64  # FlashMLA kernels require 64-token blocks


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


@dataclass
class _Slot:
    n: int  # index into plan.layers
    layer: CacheLayer
    vtype: str
    window: int | None
    block: int
    page: int

    def blocks(self, context: int, mnbt: int) -> int:
        if self.vtype == "mamba":
            return 1
        if self.vtype == "cross":
            return cdiv(self.layer.fixed_tokens or 0, self.block)
        if self.vtype == "sliding":
            assert self.window is not None
            return cdiv(min(self.window - 1 + mnbt, context), self.block) + 1
        if self.vtype == "chunked":
            assert self.window is not None
            return cdiv(min(self.window + mnbt, context), self.block)
        return cdiv(context, self.block)

    def used_blocks(self, context: int) -> int:
        """Blocks still referenced at the end of a ``context``-token request (windows free older blocks)."""
        if self.vtype == "mamba":
            return 1
        if self.vtype == "cross":
            return cdiv(self.layer.fixed_tokens or 0, self.block)
        full = cdiv(context, self.block)
        if self.vtype == "sliding" and self.window is not None:
            return min(full, cdiv(self.window - 1, self.block) + 1)
        if self.vtype == "chunked" and self.window is not None:
            return min(full, cdiv(self.window, self.block))
        return full

    def logical(self, context: int) -> int:
        if self.layer.state is not None:
            return self.layer.state_bytes
        if self.vtype == "cross":
            return (self.layer.fixed_tokens or 0) * self.layer.per_token
        held = context if self.window is None else min(context, self.window - 1)
        return held * self.layer.per_token

    def spec_key(self) -> tuple[str, int | None, int, int, int]:
        return (self.vtype, self.window, self.block, self.page, self.layer.per_token)


@dataclass
class VllmView:
    paged: PagedKV | None
    tokens: dict[int, int] = field(default_factory=dict)  # plan.layers index -> reserved token slots
    bytes: dict[int, int] = field(default_factory=dict)  # plan.layers index -> reserved bytes (one request)
    padding: dict[str, int] = field(default_factory=dict)  # by_layer_kind key -> padding layers
    kv_reserved: int = 0
    state_reserved: int = 0
    assumptions: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def vllm_view(plan: CachePlan, arch: Architecture, options: KVOptions, context: int) -> VllmView:
    mnbt = options.max_num_batched_tokens
    view = VllmView(paged=None)
    cached = [(n, layer) for n, layer in enumerate(plan.layers) if layer.vllm_type != "none"]
    attn = [(n, layer) for n, layer in cached if layer.vllm_type != "mamba"]
    states = [(n, layer) for n, layer in cached if layer.vllm_type == "mamba"]
    default_block = MLA_BLOCK if arch.mla is not None else ALIGN
    block = options.block_size or default_block
    notes = view.assumptions
    notes.append(
        f"engine=vllm: per-request reservation for max_model_len={context:,} (block_size {{block}}, "
        f"max_num_batched_tokens {mnbt:,}); used = blocks still referenced at the end of the request"
    )
    if options.block_size is None and not (states and attn):
        notes.append(
            "block_size default: 64 for MLA (FlashMLA)" if arch.mla is not None else "block_size default: 16"
        )

    mamba_page: int | None = None
    if states:
        mamba_page = max(layer.state_bytes for _, layer in states)
        notes.append(
            "Mamba-like state: one page per request (mamba_cache_mode='none', no speculative blocks)"
        )
    if states and attn:
        # HybridAttentionMambaModelConfig: attention page per token from the model-wide KV heads and head size
        if arch.mla is not None:
            a1 = (arch.mla.kv_lora_rank + arch.mla.qk_rope_head_dim) * plan.kv_bytes
        else:
            a1 = 2 * (arch.num_kv_heads or 0) * (arch.head_dim or 0) * plan.kv_bytes
        if a1 <= 0:
            view.missing.append("vllm: attention page size unknown for the attention/Mamba block-size rule")
            return view
        assert mamba_page is not None
        attn_block = ALIGN * cdiv(mamba_page, ALIGN * a1)
        if options.block_size is None or options.block_size < attn_block:
            block = attn_block
        attn_page = block * a1
        notes.append(
            f"attention+Mamba hybrid: attention block = 16 x cdiv(mamba page {mamba_page:,}, "
            f"16 x {a1:,} B/token) -> {block} tokens"
        )
        if attn_page > mamba_page:
            notes.append(f"Mamba page padded from {mamba_page:,} to the attention page {attn_page:,} B")
            mamba_page = attn_page

    hybrid_manager = True
    vtypes = {layer.vllm_type for _, layer in cached}
    if options.disable_hybrid_kv_cache_manager:
        if states and attn:
            notes.append(
                "--disable-hybrid-kv-cache-manager ignored: vLLM cannot unify attention and Mamba specs"
            )
        elif "full" in vtypes and vtypes & {"sliding", "chunked"}:
            hybrid_manager = False
            notes.append(
                "--disable-hybrid-kv-cache-manager: sliding/chunked layers reserve like full attention"
            )

    slots: list[_Slot] = []
    for n, layer in cached:
        vtype = layer.vllm_type
        window = layer.window
        if not hybrid_manager and vtype in ("sliding", "chunked"):
            vtype, window = "full", None
        if vtype == "mamba":
            assert mamba_page is not None
            slots.append(_Slot(n, layer, vtype, None, context, mamba_page if attn else layer.state_bytes))
        else:
            slots.append(_Slot(n, layer, vtype, window, block, block * layer.per_token))
    notes[0] = notes[0].replace("{block}", str(block))
    if not slots:
        view.paged = PagedKV(
            block_size=block,
            max_num_batched_tokens=mnbt,
            hybrid_kv_cache_manager=hybrid_manager,
            group_size=0,
            reserved_bytes_per_request=0,
            used_bytes_per_request=0,
            logical_bytes_per_request=0,
        )
        return view

    logical = sum(s.logical(context) for s in slots)
    if _uniform_type(slots):
        groups, group_size, used = _uniform(slots, context, mnbt, view)
    else:
        result = _hybrid(slots, context, mnbt, view)
        if result is None:
            return view
        groups, group_size, used = result
        notes.append(
            f"hybrid allocator: {len(groups)} group(s) of {group_size} layer slots; group size = the "
            "smallest layer count per spec (the largest when < 1.5x the smallest), short groups padded"
        )
    reserved = sum(view.bytes.values())
    view.paged = PagedKV(
        block_size=block,
        max_num_batched_tokens=mnbt,
        hybrid_kv_cache_manager=hybrid_manager,
        group_size=group_size,
        groups=groups,
        reserved_bytes_per_request=reserved,
        used_bytes_per_request=used,
        logical_bytes_per_request=logical,
    )
    return view


def _uniform_type(slots: list[_Slot]) -> bool:
    """vLLM ``UniformTypeKVCacheSpecs.is_uniform_type``: one group for the whole model."""
    if len({s.block for s in slots}) > 1:
        return False
    first = slots[0]
    if first.vtype in ("sliding", "chunked"):
        return all(s.vtype == first.vtype and s.window == first.window for s in slots)
    return all(s.vtype == first.vtype for s in slots)


def _uniform(slots: list[_Slot], context: int, mnbt: int, view: VllmView) -> tuple[list[KVGroup], int, int]:
    used = 0
    for s in slots:
        blocks = s.blocks(context, mnbt)
        view.tokens[s.n] = blocks * s.block if s.vtype != "mamba" else 0
        view.bytes[s.n] = blocks * s.page
        used += s.used_blocks(context) * s.page
        if s.vtype == "mamba":
            view.state_reserved += blocks * s.page
        else:
            view.kv_reserved += blocks * s.page
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


def _hybrid(
    slots: list[_Slot], context: int, mnbt: int, view: VllmView
) -> tuple[list[KVGroup], int, int] | None:
    page = max(s.page for s in slots)
    for s in slots:
        if s.page == page:
            continue
        if s.vtype == "mamba" or page % s.page:
            view.missing.append(
                f"vllm: page sizes {s.page:,} and {page:,} B cannot be unified (vLLM refuses this layout)"
            )
            return None
        ratio = page // s.page
        s.block *= ratio
        s.page = page
        view.assumptions.append(f"{s.layer.key} block size x{ratio} to unify page sizes at {page:,} B")
    by_spec: dict[tuple[str, int | None, int, int, int], list[_Slot]] = defaultdict(list)
    for s in slots:
        by_spec[s.spec_key()].append(s)
    counts = [len(v) for v in by_spec.values()]
    group_size = min(counts)
    if max(counts) < group_size * 1.5:
        group_size = max(counts)
    groups: list[KVGroup] = []
    used = 0
    for members in by_spec.values():
        first = members[0]
        n_groups = cdiv(len(members), group_size)
        pad = n_groups * group_size - len(members)
        blocks = first.blocks(context, mnbt)
        used_blocks = first.used_blocks(context)
        for s in members:
            view.tokens[s.n] = blocks * s.block if s.vtype != "mamba" else 0
            view.bytes[s.n] = blocks * page
        view.bytes[first.n] += pad * blocks * page
        if pad:
            view.padding[first.layer.key] = view.padding.get(first.layer.key, 0) + pad
        total = (len(members) + pad) * blocks * page
        if first.vtype == "mamba":
            view.state_reserved += total
        else:
            view.kv_reserved += total
        used += n_groups * group_size * used_blocks * page
        for g in range(n_groups):
            real = len(members[g::n_groups])
            groups.append(
                KVGroup(
                    kind=first.layer.key,
                    layers=real,
                    padding_layers=group_size - real,
                    block_size=first.block if first.vtype != "mamba" else context,
                    page_size_bytes=page,
                    blocks_per_request=blocks,
                    used_blocks_per_request=used_blocks,
                )
            )
    return groups, group_size, used
