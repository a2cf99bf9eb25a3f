"""Parameter count of DeepSeek V2 / V3 / V3.2 and Kimi K2 (MLA + DeepSeekMoE, MTP modules)."""

from __future__ import annotations

from hubmem.estimate.params.blocks import Ctx, Missing, embeddings, gated_mlp, linear


def _deepseek_layer_attention(ctx: Ctx) -> int:
    h, nh = ctx.hidden, ctx.heads
    mla = ctx.arch.mla
    if mla is None:
        raise Missing(f"{ctx.family}: config has no kv_lora_rank / qk_rope_head_dim")
    kv_rank, rope = mla.kv_lora_rank, mla.qk_rope_head_dim
    nope = ctx.need(mla.qk_nope_head_dim, "qk_nope_head_dim")
    v_hd = ctx.need(mla.v_head_dim, "v_head_dim")
    q_rank = mla.q_lora_rank or None  # DeepSeek's own inference configs spell "no q LoRA" as 0
    bias = bool(ctx.f.attention_bias)
    qk_hd = nope + rope
    if q_rank is None:
        n = linear(h, nh * qk_hd)
    else:
        n = linear(h, q_rank, bias) + q_rank + linear(q_rank, nh * qk_hd)
    n += linear(h, kv_rank + rope, bias) + kv_rank + linear(kv_rank, nh * (nope + v_hd))
    n += linear(nh * v_hd, h, bias)
    if ctx.family == "deepseek_v32":
        idx_heads = ctx.need(mla.index_n_heads, "index_n_heads")
        idx_hd = ctx.need(mla.index_head_dim, "index_head_dim")
        if q_rank is None:
            raise Missing("deepseek_v32: the indexer needs q_lora_rank")
        n += linear(q_rank, idx_heads * idx_hd) + linear(h, idx_hd) + 2 * idx_hd + linear(h, idx_heads)
    return n


def _deepseek_layer(ctx: Ctx, i: int, *, count_into: Ctx | None = None) -> tuple[int, int]:
    """Parameters of decoder layer ``i`` and, of those, the routed-expert parameters a token skips."""
    h = ctx.hidden
    first_dense = ctx.need(ctx.arch.first_dense_layers, "first_k_dense_replace", default=0)
    freq = ctx.need(ctx.f.moe_layer_freq, "moe_layer_freq", default=1)
    n_exp = ctx.arch.num_experts
    parts: dict[str, int] = {"attention": _deepseek_layer_attention(ctx), "norms": 2 * h}
    skipped = 0
    if n_exp is not None and i >= first_dense and i % freq == 0:
        top_k = ctx.need(ctx.arch.experts_per_token, "num_experts_per_tok")
        e_i = ctx.need(ctx.arch.moe_intermediate_size, "moe_intermediate_size")
        per_expert = gated_mlp(h, e_i)
        parts["experts"] = n_exp * per_expert
        skipped = (n_exp - top_k) * per_expert
        n_shared = ctx.need(ctx.arch.shared_experts, "n_shared_experts", default=0)
        if n_shared:
            parts["shared_experts"] = gated_mlp(h, e_i * n_shared)
        parts["router"] = n_exp * h
        if ctx.family != "deepseek_v2" or ctx.f.topk_method == "noaux_tc":
            parts["router"] += n_exp  # e_score_correction_bias (a persistent buffer, stored in checkpoints)
    else:
        parts["mlp"] = gated_mlp(h, ctx.intermediate)
    if count_into is not None:
        for k, v in parts.items():
            count_into.add(k, v)
        count_into.inactive += skipped
    return sum(parts.values()), skipped


def deepseek(ctx: Ctx) -> None:
    h, v = ctx.hidden, ctx.vocab
    embeddings(ctx, tie_default=False)
    n_layers = ctx.layers
    for i in range(n_layers):
        _deepseek_layer(ctx, i, count_into=ctx)
    ctx.add("norms", h)
    n_mtp = ctx.arch.mtp_layers
    if n_mtp:
        # DeepSeek-V3 README_WEIGHTS.md: each MTP module = one decoder layer (model.layers.61) + enorm, hnorm,
        # eh_proj (2H -> H) + shared_head.norm; its embed_tokens / shared_head.head share parameters with the
        # main model but are stored again in the checkpoint.
        for j in range(n_mtp):
            layer, _ = _deepseek_layer(ctx, n_layers + j)
            ctx.mtp += layer + 2 * h + linear(2 * h, h) + h + 2 * v * h
        ctx.notes.append(
            f"{n_mtp} MTP module(s) = {ctx.mtp:,} parameters, in the checkpoint but not in total "
            f"(their embedding and output head, {2 * n_mtp * v * h:,}, duplicate the main model's)"
        )
