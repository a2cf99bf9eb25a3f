"""Attention over the KV cache as llama.cpp builds it (src/llama-graph.cpp @ 0c1e570): the inputs
(``build_attn_inp_kv`` / ``build_attn_inp_k``: K and V row indices, the KQ mask, the Hadamard rotations of a
quantized cache), ``build_attn`` (the expand order q, v, k; the cache writes ``llama_kv_cache::cpy_k`` /
``cpy_v`` and reads ``get_k`` / ``get_v``, src/llama-kv-cache.cpp) and ``build_attn_mha`` (flash attention
or ``kq`` / softmax / ``kqv``, the MLA decompression ``v_mla``)."""

from __future__ import annotations

import msgspec

from hubmem.estimate.engines.llamacpp.graph.ops import Ctx
from hubmem.estimate.engines.llamacpp.graph.spec import GraphSpec
from hubmem.estimate.engines.llamacpp.graph.tensor import Tensor


class AttnInputs(msgspec.Struct):
    """One KV cache's inputs and its cell count (per stream)."""

    k_idxs: Tensor
    v_idxs: Tensor | None
    mask: Tensor
    k_rot: Tensor | None
    v_rot: Tensor | None
    n_kv: int


def attn_inputs(c: Ctx, s: GraphSpec, n_kv: int) -> AttnInputs:
    """``build_attn_inp_kv_impl`` / ``build_attn_inp_k_impl``: ``attn_inp_k_idxs`` i64 ``[n_tokens]``,
    ``attn_inp_v_idxs`` (``[n_tokens]``, transposed V ``[n_tokens x n_embd_v_gqa_max]``; none for MLA),
    ``attn_inp_kq_mask`` (``build_attn_inp_kq_mask``: f16 with flash attention else f32, ``[n_kv, n_tokens /
    n_stream, 1, n_stream]``), ``attn_inp_k_rot`` / ``v_rot`` f32 ``[nrot, nrot]``
    (``llama_kv_cache::build_input_k_rot``)."""
    t = s.n_tokens
    v_idxs = None
    if s.mla is None:
        v_idxs = c.input("i64", t * s.n_embd_v_gqa_max if s.v_trans else t)
    mask = c.input("f16" if s.flash else "f32", n_kv, t // s.n_stream, 1, s.n_stream)
    rk, rv = s.rot
    return AttnInputs(
        c.input("i64", t),
        v_idxs,
        mask,
        c.input("f32", rk, rk) if rk else None,
        c.input("f32", rv, rv) if rv else None,
        n_kv,
    )


def hadamard(c: Ctx, cur: Tensor, rot: Tensor) -> Tensor:
    """``llama_mul_mat_hadamard`` (src/llama-impl.h): reshape (the inputs here are contiguous), multiply by
    the rotation, reshape back."""
    n = rot.ne[0]
    total = cur.ne[0] * cur.ne[1] * cur.ne[2] * cur.ne[3]
    res = c.mul_mat(rot, c.reshape(cur, n, total // n))
    return c.reshape(res, *cur.ne)


def _cpy_v(c: Ctx, s: GraphSpec, v_cur: Tensor, cache_v: Tensor, v_idxs: Tensor) -> Tensor:
    """``llama_kv_cache::cpy_v``: row-wise, or element-wise into the transposed cache."""
    n_gqa, t = v_cur.ne[0] * v_cur.ne[1], v_cur.ne[2]
    if not s.v_trans:
        view = c.view(v_cur, n_gqa, t)
        dst = c.reshape(cache_v, n_gqa, cache_v.ne[1] * s.n_stream) if s.n_stream > 1 else cache_v
        return c.set_rows(dst, view, v_idxs)
    cur = c.reshape(v_cur, n_gqa, t)
    if n_gqa < cache_v.ne[0]:
        cur = c.op("PAD", cur, ne=(cache_v.ne[0], t, 1, 1))
    total = cache_v.ne[0] * cache_v.ne[1] * cache_v.ne[2]
    dst = c.reshape(cache_v, 1, total)
    return c.set_rows(dst, c.reshape(cur, 1, cur.ne[0] * cur.ne[1]), v_idxs)


def _cpy_k(c: Ctx, s: GraphSpec, k_cur: Tensor, cache_k: Tensor, k_idxs: Tensor) -> Tensor:
    """``llama_kv_cache::cpy_k``: a 2-d view of K, set into the (reshaped, with streams) cache rows."""
    view = c.view(k_cur, k_cur.ne[0] * k_cur.ne[1], k_cur.ne[2])
    dst = c.reshape(cache_k, cache_k.ne[0], cache_k.ne[1] * s.n_stream) if s.n_stream > 1 else cache_k
    return c.set_rows(dst, view, k_idxs)


def mha(c: Ctx, s: GraphSpec, q: Tensor, k: Tensor, v: Tensor, mask: Tensor, v_mla: int = 0) -> Tensor:
    """``build_attn_mha``: per-stream views and permutes; flash attention (``[head_v, n_head, n_tokens]``)
    or ``kq = k q`` (``[n_kv, n_tokens, n_head]`` f32), softmax with the mask, ``kqv``; ``v_mla`` rows: the
    MLA decompression by ``wv_b``; the result as ``[n_head x head_v, n_tokens]``."""
    v_trans = s.v_trans and s.mla is None
    ns = k.ne[3]
    q = c.permute(c.view(q, q.ne[0], q.ne[1], q.ne[2] // ns, ns), 0, 2, 1, 3)
    k = c.permute(k, 0, 2, 1, 3)
    v = c.permute(v, 0, 2, 1, 3)
    if s.flash:
        if v_trans:
            v = c.transpose(v)
        cur = c.op("FLASH_ATTN_EXT", q, k, v, mask, type_="f32", ne=(v.ne[0], q.ne[2], q.ne[1], q.ne[3]))
        if v_mla:
            cur = c.permute(cur, 0, 2, 1, 3)
            cur = c.permute(c.mm(v_mla, cur), 0, 2, 1, 3)
            cur = c.cont(cur)
        cur = c.reshape(cur, cur.ne[0] * cur.ne[1], cur.ne[2] * cur.ne[3])
    else:
        kq = c.op("SOFT_MAX", c.mul_mat(k, q), mask)
        if not v_trans:
            v = c.cont(c.transpose(v))
        kqv = c.mul_mat(v, kq)
        if v_mla:
            kqv = c.mm(v_mla, kqv)
        cur = c.permute(kqv, 0, 2, 1, 3)
        cur = c.cont(cur, cur.ne[0] * cur.ne[1], cur.ne[2] * cur.ne[3])
    c.expand(cur)
    return cur


def attn_kv(
    c: Ctx,
    s: GraphSpec,
    inp: AttnInputs,
    qkv: tuple[Tensor, Tensor, Tensor],
    caches: tuple[Tensor, Tensor],
    iswa: bool = False,
) -> Tensor:
    """``build_attn`` with ``llm_graph_input_attn_kv`` (the output projection included); ``iswa``: the
    ``llm_graph_input_attn_kv_iswa`` variant, which expands q, k, v (the other q, v, k), with the inputs
    of the layer's cache."""
    q, k, v = qkv
    if inp.k_rot is not None:
        q, k = hadamard(c, q, inp.k_rot), hadamard(c, k, inp.k_rot)
    if inp.v_rot is not None:
        v = hadamard(c, v, inp.v_rot)
    for t in (q, k, v) if iswa else (q, v, k):
        c.expand(t)
    cache_k, cache_v = caches
    c.expand(_cpy_k(c, s, k, cache_k, inp.k_idxs))
    assert inp.v_idxs is not None
    c.expand(_cpy_v(c, s, v, cache_v, inp.v_idxs))
    kk = c.view(cache_k, s.head_k, s.n_head_kv, inp.n_kv, s.n_stream)
    if s.v_trans:
        vv = c.view(cache_v, inp.n_kv, s.n_head_kv, s.head_v, s.n_stream)
    else:
        vv = c.view(cache_v, s.head_v, s.n_head_kv, inp.n_kv, s.n_stream)
    cur = mha(c, s, q, kk, vv, inp.mask)
    if inp.v_rot is not None:
        cur = hadamard(c, cur, inp.v_rot)
    return c.mm(s.n_embd, cur)


def attn_k(c: Ctx, s: GraphSpec, inp: AttnInputs, q: Tensor, k: Tensor, v: Tensor, cache_k: Tensor) -> Tensor:
    """``build_attn`` with ``llm_graph_input_attn_k`` (MLA: V is the first ``kv_lora_rank`` values of K)."""
    assert s.mla is not None
    for t in (q, v, k):
        c.expand(t)
    c.expand(_cpy_k(c, s, k, cache_k, inp.k_idxs))
    kk = c.view(cache_k, k.ne[0], 1, s.n_kv, s.n_stream)
    vv = c.view(kk, v.ne[0], 1, s.n_kv, s.n_stream)
    cur = mha(c, s, q, kk, vv, inp.mask, s.mla.head_v)
    return c.mm(s.n_embd, cur)
