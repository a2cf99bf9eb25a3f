"""Parameter count of recurrent and hybrid models.

Nemotron-H (Mamba-2 / attention / MLP / MoE), Nemotron-NAS (DeciLM), Mamba-1, Qwen3-Next (gated DeltaNet).
"""

from __future__ import annotations

from hubmem.estimate.params.blocks import Ctx, Missing, attention, embeddings, gated_mlp, linear, routed
from hubmem.schema.architecture import NasBlock


def _nemotron_h_pattern(ctx: Ctx) -> str:
    pattern = ctx.f.block_pattern
    if not pattern:
        raise Missing("nemotron_h: no hybrid_override_pattern / layers_block_type")
    return pattern


def nemotron_h(ctx: Ctx) -> None:
    h = ctx.hidden
    embeddings(ctx, tie_default=False)
    pattern = _nemotron_h_pattern(ctx)
    if len(pattern) != ctx.layers:
        ctx.notes.append(f"hybrid pattern has {len(pattern)} blocks, num_hidden_layers is {ctx.layers}")
    mlp_bias = bool(ctx.f.mlp_bias)
    mamba = ctx.arch.mamba
    for block in pattern:
        ctx.add("norms", h)
        if block == "M":
            if mamba is None or mamba.num_heads is None or mamba.head_dim is None:
                raise Missing("nemotron_h: config has no mamba_num_heads / mamba_head_dim / ssm_state_size")
            n_heads = mamba.num_heads
            inner = n_heads * mamba.head_dim
            groups, state, kernel = mamba.n_groups, mamba.state_size, mamba.conv_kernel
            conv_dim = inner + 2 * groups * state
            use_bias = bool(ctx.f.use_bias)
            n = linear(h, inner + conv_dim + n_heads, use_bias)  # in_proj
            n += conv_dim * kernel + (conv_dim if ctx.f.use_conv_bias is not False else 0)  # depthwise conv1d
            n += 3 * n_heads + inner  # dt_bias, A_log, D, gated RMSNorm
            n += linear(inner, h, use_bias)  # out_proj
            ctx.add("mamba", n)
        elif block == "*":
            hd = ctx.need(ctx.arch.head_dim or None, "head_dim", default=h // ctx.heads)
            bias = bool(ctx.f.attention_bias)
            ctx.add("attention", attention(h, ctx.heads, ctx.kv_heads, hd, qkv_bias=bias, o_bias=bias))
        elif block == "-":
            i = ctx.intermediate
            ctx.add("mlp", linear(h, i, mlp_bias) + linear(i, h, mlp_bias))
        elif block == "E":
            n_exp = ctx.need(ctx.arch.num_experts, "n_routed_experts")
            top_k = ctx.need(ctx.arch.experts_per_token, "num_experts_per_tok")
            e_i = ctx.need(ctx.arch.moe_intermediate_size, "moe_intermediate_size")
            latent = ctx.f.moe_latent_size
            e_in = latent or h
            routed(ctx, experts=n_exp, top_k=top_k, per_expert=2 * e_in * e_i)  # up + down, no gate
            s_i = ctx.need(ctx.arch.shared_expert_intermediate_size, "moe_shared_expert_intermediate_size")
            ctx.add("shared_experts", linear(h, s_i, mlp_bias) + linear(s_i, h, mlp_bias))
            ctx.add("router", n_exp * h + n_exp)  # weight + e_score_correction_bias
            if latent:
                ctx.add("mlp", linear(h, latent, mlp_bias) + linear(latent, h, mlp_bias))
        else:
            raise Missing(f"nemotron_h: unknown block type {block!r} in hybrid_override_pattern")
    ctx.add("norms", h)  # norm_f


def _ffn_mult_to_intermediate(ffn_mult: float, h: int) -> int:
    """DeciLM ``_ffn_mult_to_intermediate_size``: int(2*mult*H/3) rounded up to a multiple of 256."""
    n = int(2 * ffn_mult * h / 3)
    return n if n % 256 == 0 else n + 256 - n % 256


def _nas_intermediate(ctx: Ctx, block: NasBlock, h: int) -> int:
    if block.ffn_intermediate:
        return block.ffn_intermediate
    if block.ffn_mult is None:
        raise Missing("nemotron-nas: a block_configs ffn has neither intermediate_size nor ffn_mult")
    return _ffn_mult_to_intermediate(block.ffn_mult, h)


def nemotron_nas(ctx: Ctx) -> None:
    h, nh = ctx.hidden, ctx.heads
    hd = h // nh
    embeddings(ctx, tie_default=False)
    blocks = ctx.f.nas_blocks
    if blocks is None or len(blocks) != ctx.layers:
        raise Missing("nemotron-nas: block_configs missing or not one per layer")
    mlp_bias, attn_bias = bool(ctx.f.mlp_bias), bool(ctx.f.attention_bias)
    for b in blocks:
        if not b.attention_no_op:
            ctx.add("norms", h)
            if b.attention_linear:
                ctx.add("attention", linear(h, h))
            else:
                nkv = nh // ctx.need(
                    b.n_heads_in_group, "block_configs attention.n_heads_in_group", positive=True
                )
                ctx.add("attention", attention(h, nh, nkv, hd, qkv_bias=attn_bias, o_bias=attn_bias))
        if not b.ffn_no_op:
            ctx.add("norms", h)
            if b.ffn_linear:
                ctx.add("mlp", linear(h, h))
            else:
                ctx.add("mlp", gated_mlp(h, _nas_intermediate(ctx, b, h), mlp_bias))
    ctx.add("norms", h)


def mamba1(ctx: Ctx) -> None:
    """Mamba / FalconMamba (transformers ``MambaMixer``; FalconMamba's extra RMSNorms have no weights)."""
    h = ctx.hidden
    ctx.add("embeddings", ctx.vocab * h)
    ctx.add("lm_head", 0 if ctx.tied(ctx.family == "falcon_mamba") else ctx.vocab * h)
    mamba = ctx.arch.mamba
    if mamba is None:
        raise Missing(f"{ctx.family}: config has no intermediate_size / expand, state_size or conv_kernel")
    # docs/theory.md 1.2: an explicit intermediate_size wins over expand x hidden_size (parse/mixers.py)
    inner, state, kernel = mamba.intermediate_size, mamba.state_size, mamba.conv_kernel
    rank = ctx.f.time_step_rank
    dt_rank = -(-h // 16) if rank is None else rank  # "auto" = ceil(hidden / 16)
    use_bias = bool(ctx.f.use_bias)
    per_layer = (
        linear(h, 2 * inner, use_bias)  # in_proj
        + inner * kernel
        + (inner if ctx.f.use_conv_bias is not False else 0)  # depthwise conv1d
        + linear(inner, dt_rank + 2 * state)  # x_proj
        + linear(dt_rank, inner, True)  # dt_proj
        + inner * state
        + inner  # A_log, D
        + linear(inner, h, use_bias)  # out_proj
    )
    for _ in range(ctx.layers):
        ctx.add("mamba", per_layer)
        ctx.add("norms", h)
    ctx.add("norms", h)


def qwen3_next(ctx: Ctx) -> None:
    h, nh, nkv, hd = ctx.hidden, ctx.heads, ctx.kv_heads, ctx.head_dim
    embeddings(ctx, tie_default=False)
    n_layers = ctx.layers
    kinds = ctx.arch.layer_kinds
    if len(kinds) != n_layers:
        raise Missing("qwen3_next: layer_types / full_attention_interval do not give one kind per layer")
    bias = bool(ctx.f.attention_bias)
    la = ctx.arch.linear_attention
    if la is None:
        raise Missing("qwen3_next: config has no linear_num_key_heads / linear_num_value_heads / head dims")
    nk, nv, dk, dv, kernel = (
        la.num_key_heads,
        la.num_value_heads,
        la.key_head_dim,
        la.value_head_dim,
        la.conv_kernel,
    )
    key_dim, value_dim = nk * dk, nv * dv
    conv_dim = 2 * key_dim + value_dim
    gdn = (
        conv_dim * kernel  # conv1d, no bias
        + linear(h, 2 * key_dim + 2 * value_dim)  # in_proj_qkvz
        + linear(h, 2 * nv)  # in_proj_ba
        + 2 * nv  # dt_bias, A_log
        + dv  # gated RMSNorm over the value head dim
        + linear(value_dim, h)  # out_proj
    )
    # gated attention: q_proj emits query and gate (2 x heads x head_dim)
    full = attention(h, nh, nkv, hd, qkv_bias=bias, o_bias=bias, qk_norm=hd) + linear(h, nh * hd, bias)
    mlp_only = set(ctx.f.mlp_only_layers)
    step = ctx.need(ctx.f.decoder_sparse_step, "decoder_sparse_step", default=1)
    n_exp = ctx.need(ctx.arch.num_experts, "num_experts")
    for i, kind in enumerate(kinds):
        if kind == "linear":
            ctx.add("linear_attention", gdn)
        else:
            ctx.add("attention", full)
        ctx.add("norms", 2 * h)
        if i not in mlp_only and n_exp > 0 and (i + 1) % step == 0:
            top_k = ctx.need(ctx.arch.experts_per_token, "num_experts_per_tok")
            e_i = ctx.need(ctx.arch.moe_intermediate_size, "moe_intermediate_size")
            ctx.add("router", linear(h, n_exp) + linear(h, 1))  # router + shared_expert_gate
            routed(ctx, experts=n_exp, top_k=top_k, per_expert=gated_mlp(h, e_i))
            s_i = ctx.need(ctx.arch.shared_expert_intermediate_size, "shared_expert_intermediate_size")
            ctx.add("shared_experts", gated_mlp(h, s_i))
        else:
            ctx.add("mlp", gated_mlp(h, ctx.intermediate))
    ctx.add("norms", h)
