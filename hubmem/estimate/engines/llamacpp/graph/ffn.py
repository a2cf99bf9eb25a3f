"""Feed-forward blocks as llama.cpp builds them (src/llama-graph.cpp @ 0c1e570): ``build_ffn`` (SiLU, parallel
gate: ``swiglu(gate(x), up(x))``, down) and ``build_moe_ffn`` (router logits, gating, top-k by ``argsort``,
the chosen weights, renormalised and scaled if asked, expanded first; then the experts by ``mul_mat_id``,
weighted, and summed over one view per chosen expert, each view expanded)."""

from __future__ import annotations

from hubmem.estimate.engines.llamacpp.graph.ops import Ctx
from hubmem.estimate.engines.llamacpp.graph.spec import MoE
from hubmem.estimate.engines.llamacpp.graph.tensor import Tensor


def ffn(c: Ctx, cur: Tensor, n_ff: int) -> Tensor:
    """``build_ffn(..., LLM_FFN_SILU, LLM_FFN_PAR)``: up, gate, ``ggml_swiglu_split(gate, up)``, down."""
    up = c.mm(n_ff, cur)
    gate = c.mm(n_ff, cur)
    return c.mm(cur.ne[0], c.op("GLU", gate, up))


def _weights(c: Ctx, cur: Tensor, m: MoE) -> tuple[Tensor, Tensor]:
    """The router half of ``build_moe_ffn``: (the chosen experts' ids, their weights ``[1, n_used, T]``)."""
    t = cur.ne[1]
    logits = c.mm(m.n_expert, cur)
    probs = c.op("SOFT_MAX", logits) if m.gating == "softmax" else c.op("UNARY", logits)
    selection = c.op("ADD", probs, c.weight) if m.probs_bias else probs
    order = c.op("ARGSORT", selection, type_="i32")  # ggml_argsort_top_k: argsort, then a view of k
    top = c.view(order, m.n_expert_used, t)
    weights = c.get_rows(c.reshape(probs, 1, m.n_expert, t), top)
    if m.norm_w:
        w2 = c.reshape(weights, m.n_expert_used, t)
        total = c.op("CLAMP", c.op("SUM_ROWS", w2, ne=(1, t, 1, 1)))
        weights = c.reshape(c.op("DIV", w2, total), 1, m.n_expert_used, t)
    if m.w_scale not in (0.0, 1.0):
        weights = c.op("SCALE", weights)
    c.expand(weights)
    return top, weights


def moe_ffn(c: Ctx, cur: Tensor, m: MoE) -> Tensor:
    """``build_moe_ffn`` with separate gate/up experts, SiLU."""
    n_embd, t = cur.ne[0], cur.ne[1]
    top, weights = _weights(c, cur, m)
    x = c.reshape(cur, n_embd, 1, t)
    up = c.mm_id(m.n_ff_exp, x, top)
    gate = c.mm_id(m.n_ff_exp, x, top)
    experts = c.op("MUL", c.mm_id(n_embd, c.op("GLU", gate, up), top), weights)
    c.expand(experts)
    views = [c.view(experts, n_embd, t) for _ in range(m.n_expert_used)]
    for v in views:
        c.expand(v)
    out = views[0]
    for v in views[1:]:
        out = c.op("ADD", out, v)
        c.expand(out)
    return c.cont(out) if m.n_expert_used == 1 else out
