"""Parameter count of Llama-style decoders, dense and MoE.

Llama, Mistral, Mixtral, Qwen2/3 (and their MoE), Phi-3, Gemma 1-3, Llama 4 text.
"""

from __future__ import annotations

from collections.abc import Callable

from hubmem.estimate.params.blocks import Ctx, attention, embeddings, gated_mlp, linear, routed

LLAMA_STYLE = {
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen2_moe",
    "qwen3",
    "qwen3_moe",
    "qwen3_vl_text",
    "phi3",
    "gemma",
    "gemma2",
    "gemma3_text",
    "llama4_text",
}
_TIED_BY_DEFAULT = {"gemma", "gemma2", "gemma3_text", "gpt2", "bert", "falcon"}


def llama_style(ctx: Ctx) -> None:
    fam = ctx.family
    h, n_layers, nh, nkv, hd = ctx.hidden, ctx.layers, ctx.heads, ctx.kv_heads, ctx.head_dim
    embeddings(ctx, tie_default=fam in _TIED_BY_DEFAULT)

    attention_bias = bool(ctx.f.attention_bias)
    qkv_bias, o_bias, qk_norm, norms = attention_bias, attention_bias, 0, 2
    mlp_bias = bool(ctx.f.mlp_bias) if fam == "llama" else False
    if fam in ("mistral", "mixtral", "phi3"):
        qkv_bias = o_bias = False
    elif fam == "qwen2":
        qkv_bias, o_bias = True, False
    elif fam == "qwen2_moe":
        qkv_bias, o_bias = ctx.f.qkv_bias is not False, False
    elif fam in ("qwen3", "qwen3_moe", "qwen3_vl_text"):
        qk_norm = hd
    elif fam == "gemma2":
        norms = 4
    elif fam == "gemma3_text":
        norms, qk_norm = 4, hd
    per_layer_attn = attention(h, nh, nkv, hd, qkv_bias=qkv_bias, o_bias=o_bias, qk_norm=qk_norm)

    # which layers are MoE, and with what experts
    is_moe: Callable[[int], bool] = lambda i: False  # noqa: E731
    dense_i = (
        ctx.intermediate
        if fam != "llama4_text"
        else ctx.need(ctx.f.intermediate_size_mlp, "intermediate_size_mlp")
    )
    if fam == "mixtral":
        is_moe = lambda i: True  # noqa: E731
    elif fam in ("qwen2_moe", "qwen3_moe"):
        mlp_only = set(ctx.f.mlp_only_layers)
        step = ctx.need(ctx.f.decoder_sparse_step, "decoder_sparse_step", default=1)
        n_exp = ctx.need(ctx.arch.num_experts, "num_experts")
        is_moe = lambda i: i not in mlp_only and n_exp > 0 and (i + 1) % step == 0  # noqa: E731
    elif fam == "llama4_text":
        moe_layers = ctx.f.moe_layers
        if moe_layers is None:
            step = ctx.need(ctx.f.interleave_moe_layer_step, "interleave_moe_layer_step", default=1)
            moe_layers = list(range(step - 1, n_layers, step))
        moe_set = set(moe_layers)
        is_moe = lambda i: i in moe_set  # noqa: E731

    for i in range(n_layers):
        ctx.add("attention", per_layer_attn)
        ctx.add("norms", norms * h)
        if not is_moe(i):
            ctx.add("mlp", gated_mlp(h, dense_i, mlp_bias))
            continue
        n_exp = ctx.need(ctx.arch.num_experts, "num_local_experts / num_experts")
        top_k = ctx.need(ctx.arch.experts_per_token, "num_experts_per_tok")
        if fam in ("mixtral", "llama4_text"):
            e_i = ctx.intermediate
        else:
            e_i = ctx.need(ctx.arch.moe_intermediate_size, "moe_intermediate_size")
        ctx.add("router", linear(h, n_exp))
        routed(ctx, experts=n_exp, top_k=top_k, per_expert=gated_mlp(h, e_i))
        if fam == "qwen2_moe":
            ctx.add(
                "shared_experts",
                gated_mlp(
                    h, ctx.need(ctx.arch.shared_expert_intermediate_size, "shared_expert_intermediate_size")
                ),
            )
            ctx.add("router", linear(h, 1))  # shared_expert_gate
        elif fam == "llama4_text":
            ctx.add("shared_experts", gated_mlp(h, ctx.intermediate))
    ctx.add("norms", h)
