"""Parameter count of recurrent and hybrid models.

Nemotron-H (Mamba-2 / attention / MLP / MoE), Nemotron-NAS (DeciLM), Mamba-1, Qwen3-Next (gated DeltaNet).
"""

from __future__ import annotations

from hubmem.estimate.params.blocks import Ctx, Missing, attention, embeddings, gated_mlp, linear, routed


def _nemotron_h_pattern(ctx: Ctx) -> str:
    pattern = ctx.get("hybrid_override_pattern")
    if isinstance(pattern, str) and pattern:
        return pattern
    types = ctx.get("layers_block_type") or ctx.get("layer_types")
    if isinstance(types, list):
        table = {"mamba": "M", "attention": "*", "mlp": "-", "moe": "E"}
        try:
            return "".join(table[str(t)] for t in types)
        except KeyError as exc:
            raise Missing(f"nemotron_h: unknown block type {exc}") from None
    raise Missing("nemotron_h: no hybrid_override_pattern / layers_block_type")


def nemotron_h(ctx: Ctx) -> None:
    h = ctx.hidden
    embeddings(ctx, tie_default=False)
    pattern = _nemotron_h_pattern(ctx)
    if len(pattern) != ctx.layers:
        ctx.notes.append(f"hybrid pattern has {len(pattern)} blocks, num_hidden_layers is {ctx.layers}")
    mlp_bias = ctx.flag("mlp_bias", False)
    for block in pattern:
        ctx.add("norms", h)
        if block == "M":
            n_heads = ctx.num(None, "mamba_num_heads")
            inner = n_heads * ctx.num(None, "mamba_head_dim")
            groups, state = ctx.num(None, "n_groups", default=1), ctx.num(None, "ssm_state_size")
            kernel = ctx.num(None, "conv_kernel")
            conv_dim = inner + 2 * groups * state
            use_bias = ctx.flag("use_bias", False)
            n = linear(h, inner + conv_dim + n_heads, use_bias)  # in_proj
            n += conv_dim * kernel + (conv_dim if ctx.flag("use_conv_bias", True) else 0)  # depthwise conv1d
            n += 3 * n_heads + inner  # dt_bias, A_log, D, gated RMSNorm
            n += linear(inner, h, use_bias)  # out_proj
            ctx.add("mamba", n)
        elif block == "*":
            hd = ctx.num(None, "head_dim", default=h // ctx.heads)
            bias = ctx.flag("attention_bias", False)
            ctx.add("attention", attention(h, ctx.heads, ctx.kv_heads, hd, qkv_bias=bias, o_bias=bias))
        elif block == "-":
            i = ctx.intermediate
            ctx.add("mlp", linear(h, i, mlp_bias) + linear(i, h, mlp_bias))
        elif block == "E":
            n_exp = ctx.num(ctx.arch.num_experts, "n_routed_experts")
            top_k = ctx.num(ctx.arch.experts_per_token, "num_experts_per_tok")
            e_i = ctx.num(ctx.arch.moe_intermediate_size, "moe_intermediate_size")
            latent = ctx.opt("moe_latent_size")
            e_in = latent or h
            routed(ctx, experts=n_exp, top_k=top_k, per_expert=2 * e_in * e_i)  # up + down, no gate
            s_i = ctx.num(None, "moe_shared_expert_intermediate_size")
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


def nemotron_nas(ctx: Ctx) -> None:
    h, nh = ctx.hidden, ctx.heads
    hd = h // nh
    embeddings(ctx, tie_default=False)
    blocks = ctx.get("block_configs")
    if not isinstance(blocks, list) or len(blocks) != ctx.layers:
        raise Missing("nemotron-nas: block_configs missing or not one per layer")
    mlp_bias = ctx.flag("mlp_bias", False)
    attn_bias = ctx.flag("attention_bias", False)
    for b in blocks:
        attn, ffn = b.get("attention") or {}, b.get("ffn") or {}
        if not attn.get("no_op"):
            ctx.add("norms", h)
            if attn.get("replace_with_linear"):
                ctx.add("attention", linear(h, h))
            else:
                nkv = nh // int(attn["n_heads_in_group"])
                ctx.add("attention", attention(h, nh, nkv, hd, qkv_bias=attn_bias, o_bias=attn_bias))
        if not ffn.get("no_op"):
            ctx.add("norms", h)
            if ffn.get("replace_with_linear"):
                ctx.add("mlp", linear(h, h))
            else:
                i = ffn.get("intermediate_size") or _ffn_mult_to_intermediate(float(ffn["ffn_mult"]), h)
                ctx.add("mlp", gated_mlp(h, int(i), mlp_bias))
    ctx.add("norms", h)


def mamba1(ctx: Ctx) -> None:
    """Mamba / FalconMamba (transformers ``MambaMixer``; FalconMamba's extra RMSNorms have no weights)."""
    h = ctx.hidden
    ctx.add("embeddings", ctx.vocab * h)
    ctx.add("lm_head", 0 if ctx.tied(ctx.family == "falcon_mamba") else ctx.vocab * h)
    mamba = ctx.arch.mamba
    # theory.md 1.2: prefer an explicit intermediate_size over expand x hidden_size
    inner = ctx.num(mamba.intermediate_size if mamba else None, "intermediate_size", default=0)
    if not inner:
        inner = int(float(ctx.get("expand", 2)) * h)
    state = ctx.num(mamba.state_size if mamba else None, "state_size")
    kernel = ctx.num(mamba.conv_kernel if mamba else None, "conv_kernel")
    rank = ctx.get("time_step_rank", "auto")
    dt_rank = -(-h // 16) if rank == "auto" else int(rank)
    use_bias = ctx.flag("use_bias", False)
    per_layer = (
        linear(h, 2 * inner, use_bias)  # in_proj
        + inner * kernel
        + (inner if ctx.flag("use_conv_bias", True) else 0)  # depthwise conv1d
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
    types = ctx.get("layer_types")
    if not isinstance(types, list) or len(types) != n_layers:
        interval = ctx.num(None, "full_attention_interval", default=4)
        types = ["linear_attention" if (i + 1) % interval else "full_attention" for i in range(n_layers)]
    bias = ctx.flag("attention_bias", False)
    nk, nv = ctx.num(None, "linear_num_key_heads"), ctx.num(None, "linear_num_value_heads")
    dk, dv = ctx.num(None, "linear_key_head_dim"), ctx.num(None, "linear_value_head_dim")
    kernel = ctx.num(None, "linear_conv_kernel_dim")
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
    mlp_only = set(ctx.get("mlp_only_layers", []))
    step = ctx.num(None, "decoder_sparse_step", default=1)
    n_exp = ctx.num(ctx.arch.num_experts, "num_experts")
    for i, t in enumerate(types):
        if t == "linear_attention":
            ctx.add("linear_attention", gdn)
        else:
            ctx.add("attention", full)
        ctx.add("norms", 2 * h)
        if i not in mlp_only and n_exp > 0 and (i + 1) % step == 0:
            top_k = ctx.num(ctx.arch.experts_per_token, "num_experts_per_tok")
            e_i = ctx.num(ctx.arch.moe_intermediate_size, "moe_intermediate_size")
            ctx.add("router", linear(h, n_exp) + linear(h, 1))  # router + shared_expert_gate
            routed(ctx, experts=n_exp, top_k=top_k, per_expert=gated_mlp(h, e_i))
            ctx.add("shared_experts", gated_mlp(h, ctx.num(None, "shared_expert_intermediate_size")))
        else:
            ctx.add("mlp", gated_mlp(h, ctx.intermediate))
    ctx.add("norms", h)
