"""The KV pool vLLM allocates from the available memory: blocks, tokens and concurrency.

* ``num_blocks = available // block_bytes`` (``kv_cache_utils.py:get_num_blocks`` /
  ``get_kv_cache_config_from_groups`` @0.10.2 ... 0.19.0): one block id costs a page in every layer slot of a
  group (``page x group_size`` for hybrids, the sum of the layers' pages for one uniform-type group). With
  several workers the engine keeps the smallest ``num_blocks`` (``unify_kv_cache_configs`` /
  ``get_kv_cache_configs``).
* ``GPU KV cache size``: ``num_blocks // num_groups x min_block_size`` tokens up to 0.19
  (``_report_kv_cache_config``); from 0.21 ``int(max_concurrency x max_model_len)``.
* ``Maximum concurrency``: ``num_blocks / sum over groups of blocks per request``
  (``get_max_concurrency_for_kv_cache_config`` @0.9 ... 0.28); V0 and 0.8: ``tokens / max_model_len``.
* The admission check (``_check_enough_kv_cache_memory``): one request of ``max_model_len`` needs
  ``group_size x page x sum over groups of blocks`` (the sum over layers for one group); the estimated
  maximum model length is the largest length that fits (binary search, as vLLM).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from hubmem.estimate.engines.vllm.era import Era
from hubmem.estimate.engines.vllm.groups import PagedView
from hubmem.estimate.training.optimizers import cdiv
from hubmem.schema.engines import VllmGroup


class Pool(msgspec.Struct, frozen=True):
    num_blocks: int
    tokens: int
    concurrency: float
    page_bytes_per_token: int
    groups: list[VllmGroup]


def groups_of(view: PagedView) -> list[VllmGroup]:
    if view.paged is None:
        return []
    return [
        VllmGroup(
            kind=g.kind,
            layers=g.layers,
            padding_layers=g.padding_layers,
            block_size=g.block_size,
            page_size_bytes=g.page_size_bytes,
            blocks_per_request=g.blocks_per_request,
        )
        for g in view.paged.groups
    ]


def num_blocks(available: int, view: PagedView) -> int:
    if view.block_bytes <= 0 or available <= 0:
        return 0
    return available // view.block_bytes


def pool_of(blocks: int, view: PagedView, era: Era, max_model_len: int) -> Pool:
    """Tokens and concurrency of a pool of ``blocks`` block ids laid out as ``view``."""
    groups = groups_of(view)
    if not groups:
        return Pool(blocks, 0, 0.0, 0, groups)
    min_block = min(g.block_size for g in groups)
    per_request = sum(g.blocks_per_request for g in groups)
    block_tokens = blocks // len(groups) * min_block
    if era.concurrency_from_tokens:
        concurrency = block_tokens / max_model_len
    else:
        concurrency = blocks / per_request if per_request else 0.0
    tokens = int(concurrency * max_model_len) if era.tokens_from_concurrency else block_tokens
    per_token = cdiv(view.block_bytes * len(groups), min_block)
    return Pool(blocks, tokens, concurrency, per_token, groups)


def needed_bytes(view: PagedView) -> int:
    """What one request of the view's length reserves (the admission check's ``needed``)."""
    return view.paged.reserved_bytes_per_request if view.paged is not None else 0


def estimated_max_len(available: int, max_model_len: int, needed_at: Callable[[int], int]) -> int:
    """``estimate_max_model_len``: the largest length in ``[1, max_model_len]`` whose need fits; 0 if none."""
    if available <= 0 or needed_at(1) > available:
        return 0
    lo, hi = 1, max_model_len
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if needed_at(mid) <= available:
            lo = mid
        else:
            hi = mid - 1
    return lo
