"""ggml-alloc's allocator as ported in hubmem.estimate.engines.llamacpp.graph.alloc: small hand-built graphs
whose high-water mark is derived below, and the real graphs llama.cpp ran (fixtures/llamacpp_graphs,
recorded with scripts/validate/llama_cpp_graph_dump.py), which must give the compute buffer llama.cpp printed
for them."""

from __future__ import annotations

import pytest

from hubmem.estimate.engines.llamacpp.graph.alloc import DynAllocator, reserve
from hubmem.estimate.engines.llamacpp.graph.tensor import INPUT, OUTPUT, Tensor

from support.llamacpp_graphs import GRAPHS, load_graph

MiB = 1 << 20


def t(
    op: str, n: int, *src: Tensor, flags: int = 0, view_of: Tensor | None = None, ext: bool = False
) -> Tensor:
    """An f32 tensor of n values (contiguous, one row)."""
    return Tensor(op, "f32", (n, 1, 1, 1), (4, 4 * n, 4 * n, 4 * n), 4 * n, src, view_of, flags, ext)


def test_best_fit_takes_the_smallest_block_that_fits_not_the_tail() -> None:
    a = DynAllocator()
    x, y, z, w = a.alloc(100), a.alloc(64), a.alloc(200), a.alloc(32)
    assert (x, y, z, w) == (0, 128, 192, 416)  # 100 is padded to 128 (32-byte alignment)
    a.free(x, 100)  # holes: [0,128) and [192,416) once z goes
    a.free(z, 200)
    assert a.alloc(96) == 0  # 128 fits 96 better than 224; [96,128) stays free
    assert a.alloc(224) == 192
    assert a.alloc(32) == 96  # the 32 bytes left of the first hole, not the tail
    assert a.alloc(64) == 448  # no hole left: the tail
    assert a.max_size == 512


def test_free_merges_both_neighbours() -> None:
    a = DynAllocator()
    offs = [a.alloc(32) for _ in range(4)]
    a.free(offs[0], 32)
    a.free(offs[2], 32)
    a.free(offs[1], 32)  # [0,96) one block again
    assert (a.offsets[0], a.sizes[0]) == (0, 96)
    a.free(offs[3], 32)  # and with the tail
    assert a.offsets == [0]


def test_chain_reuses_dying_parents_in_place_and_views_hold_their_source() -> None:
    # x (input, 1 KiB at 0) -> a = ADD(x): x dies at a, so a takes x's memory in place. b = MUL_MAT(a): not
    # in-place, 1 KiB at 1024; a is freed after b: [0,1024) free. v = VIEW(b), c = CONT(v) of 2 KiB: the view
    # holds b until c has run, so c does not fit the hole and goes on top at 2048: 4 KiB. (Were b freed after
    # v, c would start at 0: 2 KiB; were a not in place, a would sit at 1024 and the mark be 5 KiB.)
    x = t("NONE", 256, flags=INPUT)
    a = t("ADD", 256, x)
    b = t("MUL_MAT", 256, a)
    v = t("VIEW", 256, b, view_of=b)
    c = t("CONT", 512, v, flags=OUTPUT)
    assert reserve([a, b, v, c], [x]) == 4 * 1024


def test_outputs_are_never_freed_nor_reused() -> None:
    # a (1 KiB at 0, output) -> b = SCALE(a): a is an output, so b cannot take it in place: b at 1024; c
    # (4 KiB) is allocated before its source b is freed: at 2048, 6 KiB
    w = t("NONE", 256, ext=True)
    a = t("MUL_MAT", 256, w, flags=OUTPUT)
    b = t("SCALE", 256, a)
    c = t("MUL_MAT", 1024, b)
    assert reserve([a, b, c], [w]) == 6 * 1024


def test_an_unread_input_leaf_is_allocated_and_never_freed() -> None:
    # two inputs of 1 KiB; only the second is read; the node's 1 KiB goes above both: 3 KiB
    unused, used = t("NONE", 256, flags=INPUT), t("NONE", 256, flags=INPUT)
    n = t("MUL_MAT", 256, used)
    assert reserve([n], [unused, used]) == 3 * 1024
    assert reserve([n], [used]) == 2 * 1024


# llama.cpp's printed compute buffer for these loads (scripts/VALIDATION.md, n_ctx=512 rows)
PRINTED = {
    "llama-gqa-f16-off": 18.0020,
    "llama-gqa-f16-on": 18.0020,
    "qwen3moe-f16-off": 17.5020,
    "qwen3moe-f16-on": 17.0020,
    "deepseek2-mla-f16-off": 17.5020,
    "deepseek2-mla-f16-on": 19.0215,
    "mamba-f16-off": 17.5039,
    "lfm2-f16-off": 17.5020,
    "lfm2-f16-on": 17.0020,
    "gemma-3-270m-q4_k_m-off": 515.7520,
    "gemma-3-270m-q4_k_m-on": 514.5020,
}


@pytest.mark.parametrize("name", sorted(PRINTED))
def test_the_real_graph_gives_the_buffer_llama_cpp_printed(name: str) -> None:
    nodes, leafs, _ = load_graph(GRAPHS / f"{name}.json.gz")
    assert reserve(nodes, leafs) / MiB == pytest.approx(PRINTED[name], abs=0.00005)  # 4 decimals printed
