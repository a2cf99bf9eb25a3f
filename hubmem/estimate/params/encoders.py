"""Parameter count of BERT (encoder-only) and T5 / mT5 (encoder-decoder)."""

from __future__ import annotations

from hubmem.estimate.params.blocks import Ctx, linear


def bert(ctx: Ctx) -> None:
    h, v, i = ctx.hidden, ctx.vocab, ctx.intermediate
    positions = ctx.need(ctx.f.positions, "max_position_embeddings")
    types = ctx.need(ctx.f.type_vocab_size, "type_vocab_size", default=2)
    ctx.add("embeddings", v * h + positions * h + types * h)
    ctx.add("norms", 2 * h)  # embeddings.LayerNorm
    for _ in range(ctx.layers):
        ctx.add("attention", 4 * linear(h, h, True))
        ctx.add("mlp", linear(h, i, True) + linear(i, h, True))
        ctx.add("norms", 2 * 2 * h)
    archs = ctx.arch.architectures
    arch = archs[0] if archs else "BertModel"
    pooler = linear(h, h, True)
    mlm = linear(h, h, True) + 2 * h + v  # transform.dense + transform.LayerNorm + decoder bias (weight tied)
    if arch == "BertModel":
        ctx.add("head", pooler)
    elif arch == "BertForMaskedLM":
        ctx.add("head", mlm)
    elif arch == "BertForPreTraining":
        ctx.add("head", pooler + mlm + linear(h, 2, True))
    else:
        ctx.add("head", 0)
        ctx.missing.append(f"task head of {arch} not counted (encoder counted)")
    if not ctx.tied(True):
        ctx.missing.append("untied BERT decoder weight not counted")
    ctx.notes.append(
        "checkpoints saved by older transformers also hold the int64 embeddings.position_ids buffer "
        f"({positions} elements): a tensor in the header, not a parameter"
    )


def t5(ctx: Ctx) -> None:
    """T5 / mT5 encoder-decoder (transformers ``T5Model``): shared embedding, relative position bias in
    the first layer of each stack, weight-only layer norms, (gated-)ReLU/GELU feed-forward."""
    d, v = ctx.hidden, ctx.vocab
    heads, d_kv, d_ff = ctx.heads, ctx.head_dim, ctx.intermediate
    enc = ctx.arch.encoder
    enc_layers = ctx.need(enc.encoder_layers if enc else None, "num_layers")
    dec_layers = ctx.need(enc.decoder_layers if enc else None, "num_decoder_layers", default=enc_layers)
    buckets = ctx.need(ctx.f.relative_attention_num_buckets, "relative_attention_num_buckets", default=32)
    inner = heads * d_kv
    ff_proj = ctx.f.feed_forward_proj or "relu"
    ff = (3 if ff_proj.startswith("gated-") else 2) * d * d_ff
    attn = 4 * d * inner
    ctx.add("embeddings", v * d)
    ctx.add("lm_head", 0 if ctx.tied(True) else v * d)
    for stack_layers, cross in ((enc_layers, False), (dec_layers, True)):
        ctx.add("attention", buckets * heads)  # relative_attention_bias of the stack's first layer
        for _ in range(stack_layers):
            ctx.add("attention", attn * (2 if cross else 1))
            ctx.add("mlp", ff)
            ctx.add("norms", (3 if cross else 2) * d)
        ctx.add("norms", d)  # final_layer_norm
