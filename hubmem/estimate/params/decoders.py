"""Parameter count of gpt-oss, GPT-2 and Falcon decoders."""

from __future__ import annotations

from hubmem.estimate.params.blocks import Ctx, attention, embeddings, linear, routed


def gpt_oss(ctx: Ctx) -> None:
    h, nh, nkv, hd, i = ctx.hidden, ctx.heads, ctx.kv_heads, ctx.head_dim, ctx.intermediate
    embeddings(ctx, tie_default=False)
    bias = ctx.f.attention_bias is not False
    n_exp = ctx.need(ctx.arch.num_experts, "num_local_experts")
    top_k = ctx.need(ctx.arch.experts_per_token, "num_experts_per_tok / experts_per_token")
    for _ in range(ctx.layers):
        ctx.add("attention", attention(h, nh, nkv, hd, qkv_bias=bias, o_bias=bias) + nh)  # + sinks
        ctx.add("router", linear(h, n_exp, True))
        # gate_up_proj [E, H, 2I] + bias [E, 2I]; down_proj [E, I, H] + bias [E, H]
        routed(ctx, experts=n_exp, top_k=top_k, per_expert=linear(h, 2 * i, True) + linear(i, h, True))
        ctx.add("norms", 2 * h)
    ctx.add("norms", h)


def gpt2(ctx: Ctx) -> None:
    h, v = ctx.hidden, ctx.vocab
    inner = ctx.arch.intermediate_size or 4 * h
    positions = ctx.need(ctx.f.positions, "n_positions / max_position_embeddings")
    ctx.add("embeddings", v * h + positions * h)
    ctx.add("lm_head", 0 if ctx.tied(True) else v * h)
    for _ in range(ctx.layers):
        ctx.add("attention", linear(h, 3 * h, True) + linear(h, h, True))
        ctx.add("mlp", linear(h, inner, True) + linear(inner, h, True))
        ctx.add("norms", 2 * 2 * h)  # ln_1, ln_2 (LayerNorm weight + bias)
    ctx.add("norms", 2 * h)  # ln_f
    ctx.notes.append(
        "checkpoints saved by older transformers also hold h.*.attn.bias (and attn.masked_bias) causal-mask "
        f"buffers, {positions}x{positions} per layer: tensors in the header, not parameters"
    )


def falcon(ctx: Ctx) -> None:
    h, nh, v = ctx.hidden, ctx.heads, ctx.vocab
    hd = h // nh
    new_arch = bool(ctx.f.new_decoder_architecture)
    bias = bool(ctx.f.bias)
    if new_arch:
        qkv = (nh + 2 * ctx.kv_heads) * hd
    elif ctx.f.multi_query is not False:
        qkv = h + 2 * hd
    else:
        qkv = 3 * h
    ffn = ctx.f.ffn_hidden_size or 4 * h
    parallel = ctx.f.parallel_attn is not False
    n_ln = ctx.f.num_ln_in_parallel_attn or (2 if new_arch else None)
    lns = 2 if (not parallel or n_ln == 2) else 1
    ctx.add("embeddings", v * h)
    ctx.add("lm_head", 0 if ctx.tied(True) else v * h)
    for _ in range(ctx.layers):
        ctx.add("attention", linear(h, qkv, bias) + linear(h, h, bias))
        ctx.add("mlp", linear(h, ffn, bias) + linear(ffn, h, bias))
        ctx.add("norms", lns * 2 * h)
    ctx.add("norms", 2 * h)
    if not ctx.f.tie_word_embeddings_explicit and ctx.tied(True):
        ctx.notes.append(
            "tie_word_embeddings is absent: FalconConfig defaults to True, so lm_head shares the embedding "
            "(a checkpoint may still store a separate lm_head.weight, e.g. falcon-180B)"
        )
