"""Hybrid KV-cache groups: page-size unification, equal-sized groups with padding layers, and what one request
reserves in them (``kv_cache_utils.py:unify_kv_cache_spec_page_size``,
``_get_kv_cache_groups_uniform_page_size`` @0.10.2 ... 0.19.0, current main); the per-layer spec ``Slot``
with its ``max_memory_usage_bytes`` rules (``kv_cache_interface.py``)."""

from __future__ import annotations

from collections import defaultdict

import msgspec

from hubmem.estimate.kv.plan import CacheLayer
from hubmem.estimate.training.optimizers import cdiv
from hubmem.schema.kv import KVGroup, PagedKV


class Slot(msgspec.Struct):
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
        if self.vtype == "sliding" and self.window is not None:
            return cdiv(min(self.window - 1 + mnbt, context), self.block) + 1
        if self.vtype == "chunked" and self.window is not None:
            return cdiv(min(self.window + mnbt, context), self.block)
        return cdiv(context, self.block)

    def used_blocks(self, context: int) -> int:
        """Blocks still referenced at the end of a ``context``-token request (windows free older blocks)."""
        if self.vtype in ("mamba", "cross"):
            return self.blocks(context, 0)
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


class PagedView(msgspec.Struct):
    """One request's reservation under vLLM's paging (the ``--engine vllm`` KV view)."""

    paged: PagedKV | None
    tokens: dict[int, int] = {}  # plan.layers index -> reserved token slots
    bytes: dict[int, int] = {}  # plan.layers index -> reserved bytes (one request)
    padding: dict[str, int] = {}  # by_layer_kind key -> padding layers
    kv_reserved: int = 0
    state_reserved: int = 0
    block_bytes: int = 0  # what one block id costs over every layer slot (the pool's divisor)
    assumptions: list[str] = []
    missing: list[str] = []


def account(view: PagedView, slot: Slot, blocks: int, nbytes: int) -> None:
    view.tokens[slot.n] = blocks * slot.block if slot.vtype != "mamba" else 0
    view.bytes[slot.n] = view.bytes.get(slot.n, 0) + nbytes
    if slot.vtype == "mamba":
        view.state_reserved += nbytes
    else:
        view.kv_reserved += nbytes


class Request(msgspec.Struct):
    context: int
    mnbt: int
    threshold: float | None


def _unify_pages(slots: list[Slot], view: PagedView) -> int | None:
    """``unify_kv_cache_spec_page_size``: smaller pages get ``block x ratio``; None when that cannot work."""
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
    return page


def group_size_of(counts: list[int], threshold: float | None) -> int:
    """``_get_kv_cache_groups_uniform_page_size``: the smallest layer count, or the largest when it is below
    ``threshold x`` the smallest."""
    smallest, largest = min(counts), max(counts)
    return largest if threshold is not None and largest < smallest * threshold else smallest


def hybrid_groups(
    slots: list[Slot], request: Request, view: PagedView
) -> tuple[list[KVGroup], int, int] | None:
    page = _unify_pages(slots, view)
    if page is None:
        return None
    by_spec: dict[tuple[str, int | None, int, int, int], list[Slot]] = defaultdict(list)
    for s in slots:
        by_spec[s.spec_key()].append(s)
    group_size = group_size_of([len(v) for v in by_spec.values()], request.threshold)
    view.block_bytes = page * group_size
    groups: list[KVGroup] = []
    used = 0
    for members in by_spec.values():
        used += _spec_groups(members, group_size, page, request, view, groups)
    view.assumptions.append(
        f"hybrid allocator: {len(groups)} group(s) of {group_size} layer slots; group size = the "
        "smallest layer count per spec (the largest when close to it), short groups padded"
    )
    return groups, group_size, used


def _spec_groups(
    members: list[Slot],
    group_size: int,
    page: int,
    request: Request,
    view: PagedView,
    groups: list[KVGroup],
) -> int:
    """The groups of one spec (appended to ``groups``); returns their used bytes."""
    first = members[0]
    n_groups = cdiv(len(members), group_size)
    pad = n_groups * group_size - len(members)
    blocks = first.blocks(request.context, request.mnbt)
    used_blocks = first.used_blocks(request.context)
    for s in members:
        account(view, s, blocks, blocks * page)
    if pad:
        account(view, first, blocks, pad * blocks * page)
        view.padding[first.layer.key] = view.padding.get(first.layer.key, 0) + pad
    for g in range(n_groups):
        real = len(members[g::n_groups])
        groups.append(
            KVGroup(
                kind=first.layer.key,
                layers=real,
                padding_layers=group_size - real,
                block_size=first.block if first.vtype != "mamba" else request.context,
                page_size_bytes=page,
                blocks_per_request=blocks,
                used_blocks_per_request=used_blocks,
            )
        )
    return n_groups * group_size * used_blocks * page
