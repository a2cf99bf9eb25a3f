"""Recurrent layers as llama.cpp builds them (src/llama-graph.cpp @ 0c1e570, ``build_rs``;
src/models/lfm2.cpp, ``build_shortconv_block``): the recurrent state read through the ``rs_s_copy`` rows
(zeroing the empty slot in place, copying the extra states back), the LFM2 short convolution (in-projection
into b, c, x; ``b x`` transposed after the cached ``d_conv`` columns; the last ``d_conv`` columns written
back to the state; the depthwise ``ssm_conv``; ``c`` gate; out-projection)."""

from __future__ import annotations

from hubmem.estimate.engines.llamacpp.graph.ops import Ctx
from hubmem.estimate.engines.llamacpp.graph.spec import GraphSpec
from hubmem.estimate.engines.llamacpp.graph.tensor import Tensor


class RsInputs:
    """``build_rs_inp_impl``: ``rs_s_copy`` i32 ``[n_rs]`` and its two views (the batch's sequences and the
    rest), shared by every recurrent layer."""

    def __init__(self, c: Ctx, s: GraphSpec) -> None:
        self.s_copy = c.input("i32", s.rs_cells)
        self.main = c.view(self.s_copy, s.n_seqs)
        self.extra = c.view(self.s_copy, s.rs_cells - s.n_seqs)


def build_rs(c: Ctx, s: GraphSpec, rs: RsInputs, state: Tensor, state_size: int) -> Tensor:
    """``llm_graph_context::build_rs``: the states this batch reads ``[state_size, n_seqs]``."""
    states = c.reshape(state, state_size, s.rs_cells)
    zero = c.view(states, state_size)
    c.expand(c.view(zero, *zero.ne, op="SCALE"))  # ggml_scale_inplace: a view of its source
    out = c.get_rows(states, rs.main)
    c.expand(out)
    extra = c.get_rows(states, rs.extra)
    c.expand(c.cpy(extra, c.view(state, state_size, s.rs_cells - s.n_seqs)))
    return out


def shortconv(c: Ctx, s: GraphSpec, rs: RsInputs, cur: Tensor) -> Tensor:
    """lfm2.cpp ``build_shortconv_block`` (causal, one state snapshot: ``n_rs_seq`` 0)."""
    e, t, ns = s.n_embd, cur.ne[1], s.n_seqs
    nst = t // ns
    d_conv = s.conv_kernel - 1
    state = c.external("f32", d_conv * e * s.rs_cells)
    cur = c.reshape(cur, e, nst, ns)
    bcx = c.mm(3 * e, cur)
    b, cc, x = (c.view(bcx, e, nst, ns) for _ in range(3))
    bx = c.transpose(c.op("MUL", b, x))
    conv = c.reshape(build_rs(c, s, rs, state, d_conv * e), d_conv, e, ns)
    bx = c.concat(conv, bx, 0)
    snap = c.view(bx, d_conv, e, ns)
    c.expand(c.cpy(snap, c.view(state, d_conv * e, ns)))
    conv_out = c.op("SSM_CONV", bx, c.weight, ne=(e, nst, ns, 1))
    y = c.mm(e, c.op("MUL", cc, conv_out))
    return c.reshape(y, e, t)
