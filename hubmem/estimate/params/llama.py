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


def _attention(ctx: Ctx) -> tuple[int, int]:
    """(attention parameters per layer, norm vectors per layer) of the family."""
    fam, hd = ctx.family, ctx.head_dim
    qkv_bias = o_bias = bool(ctx.f.attention_bias)
    qk_norm, norms = 0, 2
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
    per_layer = attention(
        ctx.hidden, ctx.heads, ctx.kv_heads, hd, qkv_bias=qkv_bias, o_bias=o_bias, qk_norm=qk_norm
    )
    return per_layer, norms


def _moe_layers(ctx: Ctx) -> Callable[[int], bool]:
    """Which decoder layers carry routed experts."""
    fam = ctx.family
    if fam == "mixtral":
        return lambda i: True
    if fam in ("qwen2_moe", "qwen3_moe"):
        mlp_only = set(ctx.f.mlp_only_layers)
        step = ctx.need(ctx.f.decoder_sparse_step, "decoder_sparse_step", default=1)
        n_exp = ctx.need(ctx.arch.num_experts, "num_experts")
        return lambda i: i not in mlp_only and n_exp > 0 and (i + 1) % step == 0
    if fam == "llama4_text":
        moe_layers = ctx.f.moe_layers
        if moe_layers is None:
            step = ctx.need(ctx.f.interleave_moe_layer_step, "interleave_moe_layer_step", default=1)
            moe_layers = list(range(step - 1, ctx.layers, step))
        moe_set = set(moe_layers)
        return lambda i: i in moe_set
    return lambda i: False


def _moe_layer(ctx: Ctx) -> None:
    """One MoE layer's router, routed experts and shared experts."""
    fam, h = ctx.family, ctx.hidden
    n_exp = ctx.need(ctx.arch.num_experts, "num_local_experts / num_experts")
    top_k = ctx.need(ctx.arch.experts_per_token, "num_experts_per_tok")
    if fam in ("mixtral", "llama4_text"):
        e_i = ctx.intermediate
    else:
        e_i = ctx.need(ctx.arch.moe_intermediate_size, "moe_intermediate_size")
    ctx.add("router", linear(h, n_exp))
    routed(ctx, experts=n_exp, top_k=top_k, per_expert=gated_mlp(h, e_i))
    if fam == "qwen2_moe":
        s_i = ctx.need(ctx.arch.shared_expert_intermediate_size, "shared_expert_intermediate_size")
        ctx.add("shared_experts", gated_mlp(h, s_i))
        ctx.add("router", linear(h, 1))  # shared_expert_gate
    elif fam == "llama4_text":
        ctx.add("shared_experts", gated_mlp(h, ctx.intermediate))


def llama_style(ctx: Ctx) -> None:
    fam, h = ctx.family, ctx.hidden
    embeddings(ctx, tie_default=fam in _TIED_BY_DEFAULT)
    per_layer_attn, norms = _attention(ctx)
    mlp_bias = bool(ctx.f.mlp_bias) if fam == "llama" else False
    dense_i = ctx.intermediate
    if fam == "llama4_text":
        dense_i = ctx.need(ctx.f.intermediate_size_mlp, "intermediate_size_mlp")
    is_moe = _moe_layers(ctx)
    for i in range(ctx.layers):
        ctx.add("attention", per_layer_attn)
        ctx.add("norms", norms * h)
        if is_moe(i):
            _moe_layer(ctx)
        else:
            ctx.add("mlp", gated_mlp(h, dense_i, mlp_bias))
    ctx.add("norms", h)
