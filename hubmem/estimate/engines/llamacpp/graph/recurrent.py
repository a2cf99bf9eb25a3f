"""Recurrent layers as llama.cpp builds them (src/llama-graph.cpp @ 0c1e570, ``build_rs``;
src/models/lfm2.cpp, ``build_shortconv_block``): the recurrent state read through the ``rs_s_copy`` rows
(zeroing the empty slot in place, copying the extra states back), the LFM2 short convolution (in-projection
into b, c, x; ``b x`` transposed after the cached ``d_conv`` columns; the last ``d_conv`` columns written
back to the state; the depthwise ``ssm_conv``; ``c`` gate; out-projection)."""

from __future__ import annotations

from collections.abc import Callable

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


def build_rs(
    c: Ctx,
    s: GraphSpec,
    rs: RsInputs,
    state: Tensor,
    size: int,
    rows: Callable[[Tensor], Tensor] | None = None,
) -> Tensor:
    """``llm_graph_context::build_rs``: the states this batch reads ``[size, n_seqs]`` (``rows``: the
    ``get_state_rows`` function, given the states; default ``ggml_get_rows`` by the batch's rows)."""
    states = c.reshape(state, size, s.rs_cells)
    zero = c.view(states, size)
    c.expand(c.view(zero, *zero.ne, op="SCALE"))  # ggml_scale_inplace: a view of its source
    out = rows(states) if rows is not None else c.get_rows(states, rs.main)
    c.expand(out)
    extra = c.get_rows(states, rs.extra)
    c.expand(c.cpy(extra, c.view(state, size, s.rs_cells - s.n_seqs)))
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


def mamba(c: Ctx, s: GraphSpec, rs: RsInputs, cur: Tensor) -> Tensor:
    """mamba-base.cpp ``build_mamba_layer`` (Mamba-1: one group, head size 1, no dt/B/C norms)."""
    e, t, ns = s.n_embd, cur.ne[1], s.n_seqs
    nst, d_conv = t // ns, s.conv_kernel - 1
    d_inner, d_state, dt_rank = s.ssm
    conv_states = c.external("f32", d_conv * d_inner, s.rs_cells)
    ssm_states = c.external("f32", d_state * d_inner, s.rs_cells)
    conv = c.reshape(build_rs(c, s, rs, conv_states, d_conv * d_inner), d_conv, d_inner, ns)
    xz = c.mm(2 * d_inner, c.reshape(cur, e, nst, ns))
    x, z = c.view(xz, d_inner, nst, ns), c.view(xz, d_inner, nst, ns)
    conv_x = c.concat(conv, c.transpose(x), 0)
    c.expand(c.cpy(c.view(conv_x, d_conv, d_inner, ns), c.view(conv_states, d_conv * d_inner * ns)))
    x = c.op("SSM_CONV", conv_x, c.weight, ne=(d_inner, nst, ns, 1))
    x = c.op("UNARY", c.op("ADD", x, c.weight))
    x_db = c.mm(dt_rank + 2 * d_state, x)
    dt = c.cont(c.view(x_db, dt_rank, nst, ns))
    b, cc = c.view(x_db, d_state, 1, nst, ns), c.view(x_db, d_state, 1, nst, ns)
    dt = c.op("ADD", c.mm(d_inner, dt), c.weight)
    x4 = c.reshape(x, 1, d_inner, nst, ns)

    def scan(states: Tensor) -> Tensor:
        ssm = c.reshape(states, d_state, 1, d_inner, s.rs_cells)
        size = x4.ne[0] * x4.ne[1] * x4.ne[2] * x4.ne[3] + d_state * d_inner * ns
        return c.op("SSM_SCAN", ssm, x4, dt, c.weight, b, cc, rs.main, type_="f32", ne=(size, 1, 1, 1))

    y_ssm = build_rs(c, s, rs, ssm_states, d_state * d_inner, scan)
    c.expand(c.cpy(c.view(y_ssm, d_state * d_inner * ns), c.view(ssm_states, d_state * d_inner * ns)))
    y = c.op("ADD", c.view(y_ssm, d_inner, nst, ns), c.op("MUL", x, c.weight))
    y = c.mm(e, c.op("GLU", c.cont(z), y))
    return c.reshape(y, e, t)
