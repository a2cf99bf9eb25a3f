"""The per-architecture graph builders (src/models/*.cpp @ 0c1e570): ``llama_model_llama::graph``
(llama.cpp, its MoE branch included), ``qwen2`` (qwen2.cpp: llama's graph with Q/K/V biases), ``qwen3``
(qwen3.cpp: Q/K RMS-normed per head before RoPE), ``qwen3moe`` (qwen3moe.cpp: the same, a MoE feed-forward
with renormalised weights) and ``deepseek2`` (deepseek2.cpp, the MLA branch: absorbed ``wk_b``, the latent
cached as K, V a view of it, decompressed by ``wv_b``; leading dense layers, routed + shared experts). Each
shares the frame: the token embeddings (``build_inp_embd``, with the unused embeddings input that
``ggml_build_forward_select`` adds), the positions, the attention inputs, the output ids (at the last layer
the attention output and the residual are cut to the output rows), the output norm (``t_embd``, a graph
output) and the logits (a graph output)."""

from __future__ import annotations

from collections.abc import Callable

from hubmem.estimate.engines.llamacpp.graph.attention import AttnInputs, attn_inputs, attn_k, attn_kv
from hubmem.estimate.engines.llamacpp.graph.ffn import ffn, moe_ffn
from hubmem.estimate.engines.llamacpp.graph.ops import Ctx
from hubmem.estimate.engines.llamacpp.graph.recurrent import RsInputs, mamba, shortconv
from hubmem.estimate.engines.llamacpp.graph.spec import GraphSpec
from hubmem.estimate.engines.llamacpp.graph.tensor import OUTPUT, Tensor


class Frame:
    """The inputs every builder shares, and the KV cache tensors per layer."""

    def __init__(self, c: Ctx, s: GraphSpec) -> None:
        self.c, self.s = c, s
        t = s.n_tokens
        tokens = c.input("i32", t)
        embd_in = c.input("f32", s.n_embd, t)  # build_inp_embd's vector-embeddings input, unused here
        self.embd = c.get_rows_w(s.n_embd, tokens)
        c.expand(self.embd)  # ggml_build_forward_select: both alternatives in the graph
        c.expand(embd_in)
        if s.arch == "gemma3":  # gemma3.cpp: the token embeddings scaled by sqrt(n_embd)
            self.embd = c.op("SCALE", self.embd)
        self.pos = c.input("i32", t)
        self.rs = RsInputs(c, s) if any(s.recurrent) else None
        self.attn: AttnInputs | None = attn_inputs(c, s, s.n_kv) if not all(s.recurrent) else None
        self.attn_swa = attn_inputs(c, s, s.n_kv_swa) if any(s.swa) else None
        self.out_ids = c.input("i32", s.n_outputs)

    def inputs(self, il: int) -> AttnInputs:
        """The attention inputs of layer ``il``'s cache (iSWA: the SWA cache's for a sliding layer)."""
        inp = self.attn_swa if self.s.swa and self.s.swa[il] else self.attn
        assert inp is not None
        return inp

    def cache(self, il: int) -> tuple[Tensor, Tensor]:
        """Layer ``il``'s K and V cache tensors (``[n_embd_k_gqa, kv_size, n_stream]``; V rows padded to the
        widest layer when transposed)."""
        s, cells = self.s, self.inputs(il).n_kv
        if s.mla is not None:
            k = self.c.external(s.type_k, s.mla.kv_lora_rank + s.mla.n_rot, cells, s.n_stream)
            return k, k
        v_rows = s.n_embd_v_gqa_max if s.v_trans else s.head_v * s.n_head_kv
        return (
            self.c.external(s.type_k, s.head_k * s.n_head_kv, cells, s.n_stream),
            self.c.external(s.type_v, v_rows, cells, s.n_stream),
        )

    def rope(self, x: Tensor) -> Tensor:
        return self.c.op("ROPE", x, self.pos)


def _proj(c: Ctx, rows: int, cur: Tensor, bias: bool) -> Tensor:
    """``build_qkv``'s separate path: one projection, plus its bias where the layer has one."""
    out = c.mm(rows, cur)
    return c.op("ADD", out, c.weight) if bias else out


def _llama_attn(f: Frame, il: int, cur: Tensor, qk_norm: bool) -> Tensor:
    """``build_qkv`` (Q/K/V biases: Qwen2) + RoPE (+ the per-head Q/K norms of Qwen3, LFM2, Gemma 3) +
    ``build_attn`` (Gemma 3: Q scaled after RoPE, the iSWA variant)."""
    c, s = f.c, f.s
    t, (bq, bk, bv) = cur.ne[1], s.qkv_bias
    q = c.reshape(_proj(c, s.n_head * s.head_k, cur, bq), s.head_k, s.n_head, t)
    k = c.reshape(_proj(c, s.n_head_kv * s.head_k, cur, bk), s.head_k, s.n_head_kv, t)
    v = c.reshape(_proj(c, s.n_head_kv * s.head_v, cur, bv), s.head_v, s.n_head_kv, t)
    if qk_norm:
        q, k = c.rms_norm_w(q), c.rms_norm_w(k)
    q, k = f.rope(q), f.rope(k)
    if s.arch == "gemma3":
        q = c.op("SCALE", q)
    return attn_kv(c, s, f.inputs(il), (q, k, v), f.cache(il), iswa=any(s.swa))


def _mla_attn(f: Frame, il: int, cur: Tensor) -> Tensor:
    """deepseek2.cpp's MLA branch."""
    c, s, m = f.c, f.s, f.s.mla
    assert m is not None and f.attn is not None
    t = cur.ne[1]
    q = c.mm(s.n_head * m.head_k, c.rms_norm_w(c.mm(m.q_lora_rank, cur)) if m.q_lora_rank else cur)
    q = c.reshape(q, m.head_k, s.n_head, t)
    kv_cmpr_pe = c.mm(m.kv_lora_rank + m.n_rot, cur)
    kv_cmpr = c.view(kv_cmpr_pe, m.kv_lora_rank, t)
    k_pe = f.rope(c.view(kv_cmpr_pe, m.n_rot, 1, t))
    kv_cmpr = c.rms_norm_w(kv_cmpr)
    q_nope = c.view(q, m.head_k - m.n_rot, s.n_head, t)
    q_pe = f.rope(c.view(q, m.n_rot, s.n_head, t))
    absorbed = c.permute(c.mm(m.kv_lora_rank, c.permute(q_nope, 0, 2, 1, 3)), 0, 2, 1, 3)
    q_cur = c.concat(absorbed, q_pe, 0)
    v_cur = c.reshape(kv_cmpr, m.kv_lora_rank, 1, t)
    k_cur = c.concat(v_cur, k_pe, 0)
    return attn_k(c, s, f.attn, q_cur, k_cur, v_cur, f.cache(il)[0])


def _ffn_part(f: Frame, il: int, cur: Tensor) -> Tensor:
    c, s, m = f.c, f.s, f.s.moe
    if m is None or il < m.n_dense_lead:
        return ffn(c, cur, s.n_ff)
    out = moe_ffn(c, cur, m)
    if m.n_ff_shexp:
        out = c.op("ADD", out, ffn(c, cur, m.n_ff_shexp))
    return out


def transformer_layer(f: Frame, il: int, inp: Tensor) -> Tensor:
    """One decoder layer of llama / qwen2 / qwen3 / qwen3moe / deepseek2: norm, attention, (last layer:
    the output rows), residual, norm, feed-forward, residual."""
    c, s = f.c, f.s
    cur = c.rms_norm_w(inp)
    cur = (
        _mla_attn(f, il, cur)
        if s.mla is not None
        else _llama_attn(f, il, cur, s.arch in ("qwen3", "qwen3moe"))
    )
    if il == s.n_layer - 1:
        cur, inp = c.get_rows(cur, f.out_ids), c.get_rows(inp, f.out_ids)
    ffn_inp = c.op("ADD", cur, inp)
    return c.op("ADD", _ffn_part(f, il, c.rms_norm_w(ffn_inp)), ffn_inp)


def lfm2_layer(f: Frame, il: int, inp: Tensor) -> Tensor:
    """lfm2.cpp: a short-conv or an attention block (Q/K normed per head), (last layer: the output rows),
    ``prev + cur``, then ``cur + ffn(norm(cur))``."""
    c, s = f.c, f.s
    cur = c.rms_norm_w(inp)
    if s.recurrent[il]:
        assert f.rs is not None
        cur = shortconv(c, s, f.rs, cur)
    else:
        cur = _llama_attn(f, il, cur, True)
    if il == s.n_layer - 1:
        cur, inp = c.get_rows(cur, f.out_ids), c.get_rows(inp, f.out_ids)
    cur = c.op("ADD", inp, cur)
    return c.op("ADD", cur, ffn(c, c.rms_norm_w(cur), s.n_ff))


def mamba_layer(f: Frame, il: int, inp: Tensor) -> Tensor:
    """mamba.cpp: norm, the Mamba block, (last layer: the output rows), ``cur + inp``."""
    c, s = f.c, f.s
    assert f.rs is not None
    cur = mamba(c, s, f.rs, c.rms_norm_w(inp))
    if il == s.n_layer - 1:
        cur, inp = c.get_rows(cur, f.out_ids), c.get_rows(inp, f.out_ids)
    return c.op("ADD", cur, inp)


def gemma3_layer(f: Frame, il: int, inp: Tensor) -> Tensor:
    """gemma3.cpp: norm, attention, (last layer: the output rows), post-attention norm, residual, norm,
    GELU feed-forward (the same graph as SiLU's), post-feed-forward norm, residual."""
    c, s = f.c, f.s
    cur = _llama_attn(f, il, c.rms_norm_w(inp), True)
    if il == s.n_layer - 1:
        cur, inp = c.get_rows(cur, f.out_ids), c.get_rows(inp, f.out_ids)
    sa_out = c.op("ADD", c.rms_norm_w(cur), inp)
    cur = c.rms_norm_w(ffn(c, c.rms_norm_w(sa_out), s.n_ff))
    return c.op("ADD", cur, sa_out)


Layer = Callable[[Frame, int, Tensor], Tensor]
LAYERS: dict[str, Layer] = {
    "llama": transformer_layer,
    "qwen2": transformer_layer,
    "qwen3": transformer_layer,
    "qwen3moe": transformer_layer,
    "deepseek2": transformer_layer,
    "lfm2": lfm2_layer,
    "mamba": mamba_layer,
    "gemma3": gemma3_layer,
}


def head(f: Frame, cur: Tensor) -> None:
    """The output norm (``t_embd``) and the logits, both graph outputs (``llm_graph_result::set_outputs``)."""
    c, s = f.c, f.s
    norm = c.rms_norm_w(cur)
    logits = c.mm(s.n_vocab, norm)
    norm.flags |= OUTPUT
    logits.flags |= OUTPUT
    c.expand(logits)
