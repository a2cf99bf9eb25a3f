"""Per-family tensor-list generators for models transformers cannot build as the checkpoint stores them."""

from __future__ import annotations

import re

from fixturegen.stheader import TensorSpec


def deepseek_v3_mtp(main: list[TensorSpec], config: dict) -> list[TensorSpec]:
    """The multi-token-prediction layer(s) DeepSeek-V3/R1 checkpoints store as model.layers.<L> (L =
    num_hidden_layers),
    which transformers does not build: a full MoE decoder layer (copied from the last layer's shapes) plus
    embed_tokens, enorm, hnorm, eh_proj [H, 2H], shared_head.norm, shared_head.head (README_WEIGHTS.md)."""
    n = config["num_hidden_layers"]
    h = config["hidden_size"]
    v = config["vocab_size"]
    out: list[TensorSpec] = []
    for k in range(config.get("num_nextn_predict_layers", 0)):
        idx = n + k
        out += [
            TensorSpec(f"model.layers.{idx}.embed_tokens.weight", "BF16", (v, h)),
            TensorSpec(f"model.layers.{idx}.enorm.weight", "BF16", (h,)),
            TensorSpec(f"model.layers.{idx}.hnorm.weight", "BF16", (h,)),
            TensorSpec(f"model.layers.{idx}.eh_proj.weight", "BF16", (h, 2 * h)),
        ]
        prefix = f"model.layers.{n - 1}."
        out += [
            TensorSpec(f"model.layers.{idx}." + t.name[len(prefix) :], t.dtype, t.shape)
            for t in main
            if t.name.startswith(prefix)
        ]
        out += [
            TensorSpec(f"model.layers.{idx}.shared_head.norm.weight", "BF16", (h,)),
            TensorSpec(f"model.layers.{idx}.shared_head.head.weight", "BF16", (v, h)),
        ]
    return out


def gpt_oss_20b_weight_map(num_layers: int = 24) -> dict[str, str]:
    """The real openai/gpt-oss-20b index weight_map, re-typed from a public paste of the whole file (read in
    full): layers in string order, 19 tensors each in this order, split over three files as listed there."""
    leaves = [
        "input_layernorm.weight", "self_attn.o_proj.bias", "self_attn.o_proj.weight", "self_attn.q_proj.bias",
        "self_attn.k_proj.bias", "self_attn.v_proj.bias", "self_attn.q_proj.weight",
        "self_attn.k_proj.weight",
        "self_attn.v_proj.weight", "self_attn.sinks", "mlp.router.bias", "mlp.router.weight",
        "mlp.experts.gate_up_proj_bias", "mlp.experts.gate_up_proj_blocks", "mlp.experts.gate_up_proj_scales",
        "mlp.experts.down_proj_bias", "mlp.experts.down_proj_blocks", "mlp.experts.down_proj_scales",
        "post_attention_layernorm.weight",
    ]  # fmt: skip
    files = [f"model-{i:05d}-of-00002.safetensors" for i in range(3)]
    keys = [
        f"model.layers.{layer}.{leaf}" for layer in sorted(map(str, range(num_layers))) for leaf in leaves
    ]
    keys += ["model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"]
    first_in_1 = keys.index("model.layers.18.self_attn.q_proj.weight")
    first_in_2 = keys.index("model.layers.6.mlp.experts.gate_up_proj_blocks")
    return {
        k: files[0] if i < first_in_1 else files[1] if i < first_in_2 else files[2]
        for i, k in enumerate(keys)
    }


def layer_of(name: str) -> int | None:
    m = re.search(r"\.layers\.(\d+)\.", name)
    return int(m.group(1)) if m else None
