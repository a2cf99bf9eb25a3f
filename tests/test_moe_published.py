"""MoE total vs active parameters against published figures.

The tensor lists are generated here, from first principles: each model's real config.json (fixtures/
repos/*/files) gives the dimensions, and the tensor names / shapes / dtypes are the ones the real
checkpoint uses. The expected figures are the published ones (corpus README / model cards), rounded
as published: a figure ``p`` given to ``d`` decimals is met by any ``x`` in ``[p - ulp/2, p + ulp)``
(publishers round or truncate; Qwen's "3.3B" is 3.35B, DeepSeek's "37B" is 37.5B).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from hubmem.estimate.weights.report import estimate_weights
from hubmem.formats.dtypes import DTYPE_BITS
from hubmem.formats.safetensors import SafetensorsHeader, Tensor
from hubmem.parse.config import parse_config
from hubmem.schema.architecture import Architecture
from hubmem.snapshot import Snapshot, WeightFile

from support.paths import repo_config


def published(x: int, figure: str, unit: float = 1e9) -> bool:
    """``x`` (a count) matches a published figure like "46.7" (billions) when rounded or truncated."""
    p = Decimal(figure)
    ulp = Decimal(1).scaleb(p.as_tuple().exponent)  # type: ignore[arg-type]
    v = Decimal(x) / Decimal(unit)
    return p - ulp / 2 <= v < p + ulp


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


class Gen:
    """Tensors laid out back to back in one file, as a safetensors writer would."""

    def __init__(self, file: str = "model.safetensors") -> None:
        self.file = file
        self.tensors: list[Tensor] = []
        self.offset = 0

    def add(self, name: str, shape: tuple[int, ...], dtype: str = "BF16") -> None:
        n = 1
        for d in shape:
            n *= d
        size = n * DTYPE_BITS[dtype] // 8
        self.tensors.append(Tensor(name, dtype, shape, self.offset, self.offset + size, self.file))
        self.offset += size

    def linear(self, name: str, out: int, inp: int, *, fp8: bool = False, bias: bool = False) -> None:
        if fp8:  # DeepSeek-V3 block FP8: weight e4m3 + weight_scale_inv F32 per 128x128 block
            self.add(f"{name}.weight", (out, inp), "F8_E4M3")
            self.add(f"{name}.weight_scale_inv", (cdiv(out, 128), cdiv(inp, 128)), "F32")
        else:
            self.add(f"{name}.weight", (out, inp))
        if bias:
            self.add(f"{name}.bias", (out,))


def snapshot_for(config: dict[str, Any], gen: Gen) -> Snapshot:
    return Snapshot(
        repo_id="test/model",
        revision="main",
        commit=None,
        source="local",
        config=config,
        files=[WeightFile(path=gen.file, header_length=0, header=SafetensorsHeader([]))],
    )


def arch_for(config: dict[str, Any], **kw: Any) -> Architecture:
    """What the config parser reads; the estimator reads nothing else."""
    return parse_config(config).model_copy(update=kw)


def llama_attention(
    g: Gen, p: str, hidden: int, heads: int, kv: int, hd: int, *, qk_norm: bool = False
) -> None:
    g.linear(f"{p}.self_attn.q_proj", heads * hd, hidden)
    g.linear(f"{p}.self_attn.k_proj", kv * hd, hidden)
    g.linear(f"{p}.self_attn.v_proj", kv * hd, hidden)
    g.linear(f"{p}.self_attn.o_proj", hidden, heads * hd)
    if qk_norm:
        g.add(f"{p}.self_attn.q_norm.weight", (hd,))
        g.add(f"{p}.self_attn.k_norm.weight", (hd,))


# --------------------------------------------------------------------------------------------- Mixtral


def mixtral(cfg: dict[str, Any]) -> Gen:
    g = Gen()
    h, inter, e = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_local_experts"]
    hd = h // cfg["num_attention_heads"]
    g.add("model.embed_tokens.weight", (cfg["vocab_size"], h))
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}"
        g.add(f"{p}.input_layernorm.weight", (h,))
        llama_attention(g, p, h, cfg["num_attention_heads"], cfg["num_key_value_heads"], hd)
        g.add(f"{p}.post_attention_layernorm.weight", (h,))
        g.add(f"{p}.block_sparse_moe.gate.weight", (e, h))
        for x in range(e):
            g.linear(f"{p}.block_sparse_moe.experts.{x}.w1", inter, h)
            g.linear(f"{p}.block_sparse_moe.experts.{x}.w2", h, inter)
            g.linear(f"{p}.block_sparse_moe.experts.{x}.w3", inter, h)
    g.add("model.norm.weight", (h,))
    g.add("lm_head.weight", (cfg["vocab_size"], h))
    return g


def test_mixtral_8x7b_total_46_7b_active_12_9b() -> None:
    cfg = repo_config("mistralai__Mixtral-8x7B-v0.1")
    g = mixtral(cfg)
    w = estimate_weights(snapshot_for(cfg, g), g.tensors, arch_for(cfg))
    assert w.moe is not None
    assert published(w.parameters, "46.7")
    assert published(w.moe.active_parameters, "12.9")
    assert w.moe.num_experts == 8 and w.moe.experts_per_token == 2
    assert w.moe.moe_layers == 32 and w.moe.dense_layers == 0 and not w.moe.fused_experts
    # every routed expert is identical: per-expert size from the config alone
    assert w.moe.parameters_per_expert == 3 * cfg["hidden_size"] * cfg["intermediate_size"]
    # all bf16: bytes = 2 x parameters, and the experts hold (E - k)/E of what is not active
    assert w.total_bytes == 2 * w.parameters == w.by_dtype["BF16"].bytes
    assert w.moe.active_bytes == 2 * w.moe.active_parameters
    assert w.by_component["router"].parameters == 32 * 8 * cfg["hidden_size"]
    assert w.tied_embeddings is False


# --------------------------------------------------------------------------------------------- Qwen3-MoE


def qwen3_moe(cfg: dict[str, Any]) -> Gen:
    g = Gen()
    h, e, mi, hd = cfg["hidden_size"], cfg["num_experts"], cfg["moe_intermediate_size"], cfg["head_dim"]
    g.add("model.embed_tokens.weight", (cfg["vocab_size"], h))
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}"
        g.add(f"{p}.input_layernorm.weight", (h,))
        llama_attention(g, p, h, cfg["num_attention_heads"], cfg["num_key_value_heads"], hd, qk_norm=True)
        g.add(f"{p}.post_attention_layernorm.weight", (h,))
        g.add(f"{p}.mlp.gate.weight", (e, h))
        for x in range(e):
            g.linear(f"{p}.mlp.experts.{x}.gate_proj", mi, h)
            g.linear(f"{p}.mlp.experts.{x}.up_proj", mi, h)
            g.linear(f"{p}.mlp.experts.{x}.down_proj", h, mi)
    g.add("model.norm.weight", (h,))
    g.add("lm_head.weight", (cfg["vocab_size"], h))
    return g


def test_qwen3_30b_a3b_total_30_5b_active_3_3b() -> None:
    cfg = repo_config("Qwen__Qwen3-30B-A3B")
    g = qwen3_moe(cfg)
    w = estimate_weights(snapshot_for(cfg, g), g.tensors, arch_for(cfg))
    assert w.moe is not None
    assert published(w.parameters, "30.5")
    assert published(w.moe.active_parameters, "3.3")
    # the card also gives 29.9B non-embedding parameters (embed_tokens + lm_head excluded)
    non_embedding = (
        w.parameters - w.by_component["embeddings"].parameters - w.by_component["lm_head"].parameters
    )
    assert published(non_embedding, "29.9")
    assert w.moe.num_experts == 128 and w.moe.experts_per_token == 8 and w.moe.moe_layers == 48


def test_moe_fields_come_from_the_config_parser_only() -> None:
    """The estimator reads the parsed Architecture, never the raw config: without the parser's MoE fields
    the active figure is not derived (and a note says why), with them it is."""
    cfg = repo_config("Qwen__Qwen3-30B-A3B")
    g = qwen3_moe(cfg)
    full = estimate_weights(snapshot_for(cfg, g), g.tensors, arch_for(cfg))
    bare = estimate_weights(snapshot_for(cfg, g), g.tensors, Architecture())
    assert full.moe is not None and full.moe.experts_per_token == cfg["num_experts_per_tok"]
    assert bare.moe is None and any("experts-per-token is not in config.json" in n for n in bare.notes)


# --------------------------------------------------------------------------------------------- DeepSeek


def deepseek(cfg: dict[str, Any], *, fp8: bool) -> Gen:
    """DeepSeek-V2/V3 checkpoint layout (MLA attention, first_k_dense_replace dense layers, shared experts,
    ``mlp.gate`` router, MTP layer(s) at index num_hidden_layers with their own embed/head copies)."""
    g = Gen()
    h, v = cfg["hidden_size"], cfg["vocab_size"]
    nh, nope, rope, vd = (
        cfg["num_attention_heads"],
        cfg["qk_nope_head_dim"],
        cfg["qk_rope_head_dim"],
        cfg["v_head_dim"],
    )
    kvr, qr = cfg["kv_lora_rank"], cfg.get("q_lora_rank")
    e, mi = cfg["n_routed_experts"], cfg["moe_intermediate_size"]
    shared_i = mi * cfg["n_shared_experts"]
    v3 = cfg["model_type"] == "deepseek_v3"

    def layer(p: str, dense: bool) -> None:
        g.add(f"{p}.input_layernorm.weight", (h,))
        a = f"{p}.self_attn"
        if qr:
            g.linear(f"{a}.q_a_proj", qr, h, fp8=fp8)
            g.add(f"{a}.q_a_layernorm.weight", (qr,))
            g.linear(f"{a}.q_b_proj", nh * (nope + rope), qr, fp8=fp8)
        else:
            g.linear(f"{a}.q_proj", nh * (nope + rope), h, fp8=fp8)
        g.linear(f"{a}.kv_a_proj_with_mqa", kvr + rope, h, fp8=fp8)
        g.add(f"{a}.kv_a_layernorm.weight", (kvr,))
        g.linear(f"{a}.kv_b_proj", nh * (nope + vd), kvr, fp8=fp8)
        g.linear(f"{a}.o_proj", h, nh * vd, fp8=fp8)
        g.add(f"{p}.post_attention_layernorm.weight", (h,))
        m = f"{p}.mlp"
        if dense:
            for n in ("gate_proj", "up_proj"):
                g.linear(f"{m}.{n}", cfg["intermediate_size"], h, fp8=fp8)
            g.linear(f"{m}.down_proj", h, cfg["intermediate_size"], fp8=fp8)
            return
        g.add(f"{m}.gate.weight", (e, h))
        if v3:
            g.add(f"{m}.gate.e_score_correction_bias", (e,), "F32")
        for x in range(e):
            g.linear(f"{m}.experts.{x}.gate_proj", mi, h, fp8=fp8)
            g.linear(f"{m}.experts.{x}.up_proj", mi, h, fp8=fp8)
            g.linear(f"{m}.experts.{x}.down_proj", h, mi, fp8=fp8)
        g.linear(f"{m}.shared_experts.gate_proj", shared_i, h, fp8=fp8)
        g.linear(f"{m}.shared_experts.up_proj", shared_i, h, fp8=fp8)
        g.linear(f"{m}.shared_experts.down_proj", h, shared_i, fp8=fp8)

    g.add("model.embed_tokens.weight", (v, h))
    n = cfg["num_hidden_layers"]
    for i in range(n):
        layer(f"model.layers.{i}", dense=i < cfg["first_k_dense_replace"])
    for j in range(cfg.get("num_nextn_predict_layers", 0)):
        p = f"model.layers.{n + j}"  # README_WEIGHTS: MTP module = layer 61 with its own embed / head copies
        g.add(f"{p}.embed_tokens.weight", (v, h))
        g.add(f"{p}.enorm.weight", (h,))
        g.add(f"{p}.hnorm.weight", (h,))
        g.linear(f"{p}.eh_proj", h, 2 * h)
        layer(p, dense=False)
        g.add(f"{p}.shared_head.norm.weight", (h,))
        g.add(f"{p}.shared_head.head.weight", (v, h))
    g.add("model.norm.weight", (h,))
    g.add("lm_head.weight", (v, h))
    return g


def test_deepseek_v3_671b_main_plus_mtp_active_37b() -> None:
    cfg = repo_config("deepseek-ai__DeepSeek-V3")
    g = deepseek(cfg, fp8=True)
    arch = arch_for(cfg, mtp_layers=cfg["num_nextn_predict_layers"])
    w = estimate_weights(snapshot_for(cfg, g), g.tensors, arch)
    m = w.moe
    assert m is not None
    main = w.parameters - m.mtp_parameters
    assert published(main, "671")  # "671B of Main Model weights" (DeepSeek README_WEIGHTS)
    # "685B = 671B + 14B MTP": the MTP layer (a full MoE layer + eh_proj + its embed/head copies) is
    # 13.46B, so the published 14B / 685B are rounded up; assert the unrounded sum lies between them.
    assert 13.0e9 < m.mtp_parameters < 14.5e9
    assert 684.0e9 < w.parameters < 685.5e9
    # the raw element count (huggingface_hub semantics, weight_scale_inv included) rounds to 685B
    assert published(w.elements, "685")
    assert published(m.active_parameters, "37")  # "37B activated"
    assert m.moe_layers == cfg["num_hidden_layers"] - cfg["first_k_dense_replace"]
    assert m.dense_layers == cfg["first_k_dense_replace"]
    assert m.shared_experts == 1
    assert w.by_component["mtp"].parameters == m.mtp_parameters
    # FP8 block quantization: weight_scale_inv tensors are bookkeeping, not parameters
    q = w.quantization
    assert q is not None and q.method == "fp8"
    fp8_weights = [t for t in g.tensors if t.dtype == "F8_E4M3"]
    scales = [t for t in g.tensors if t.name.endswith("weight_scale_inv")]
    assert q.aux_tensors == len(scales) == len(fp8_weights)
    assert q.quantized_parameters == sum(t.numel for t in fp8_weights)
    assert w.elements == w.parameters + sum(t.numel for t in scales)
    assert w.by_dtype["F32"].parameters == sum(t.numel for t in g.tensors if t.dtype == "F32") - sum(
        t.numel for t in scales
    )
    # 1 byte per weight + one F32 per 128x128 block: just above 8 bits per parameter
    assert q.bits_per_parameter is not None and 8.0 < q.bits_per_parameter < 8.01


def test_deepseek_v2_lite_15_7b_active_2_4b() -> None:
    # the HF config as mlc-llm copies it (values upstream's; see fixtures SOURCE.txt)
    cfg = repo_config("deepseek-ai__DeepSeek-V2-Lite", "../corpus/config.mlc-preset-subset.json")
    # cross-check the dims with DeepSeek's own inference config for the 16B model
    ref = repo_config("deepseek-ai__DeepSeek-V2-Lite", "../corpus/deepseek_inference_config_16B.json")
    assert (cfg["hidden_size"], cfg["n_routed_experts"], cfg["num_experts_per_tok"]) == (
        ref["dim"],
        ref["n_routed_experts"],
        ref["n_activated_experts"],
    )
    g = deepseek(cfg, fp8=False)
    w = estimate_weights(snapshot_for(cfg, g), g.tensors, arch_for(cfg))
    m = w.moe
    assert m is not None
    assert published(w.parameters, "15.7")
    # DeepSeek's 2.4B leaves out the input-embedding lookup (with it: 2.66B)
    assert published(m.active_parameters_no_embedding, "2.4")
    assert m.active_parameters - m.active_parameters_no_embedding == cfg["vocab_size"] * cfg["hidden_size"]
    assert m.dense_layers == 1 and m.moe_layers == 26 and m.shared_experts == 2
    assert m.mtp_parameters == 0


# --------------------------------------------------------------------------------------------- gpt-oss


def gpt_oss(cfg: dict[str, Any]) -> Gen:
    """openai/gpt-oss-20b as transformers stores it: MXFP4 experts stacked per layer
    (``*_blocks`` U8 [E, out, K/32, 16], ``*_scales`` U8 [E, out, K/32], ``*_bias`` BF16 [E, out])."""
    g = Gen()
    h, e, inter, hd = cfg["hidden_size"], cfg["num_local_experts"], cfg["intermediate_size"], cfg["head_dim"]
    nh, kv, v = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["vocab_size"]
    g.add("model.embed_tokens.weight", (v, h))
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}"
        g.add(f"{p}.input_layernorm.weight", (h,))
        g.linear(f"{p}.self_attn.q_proj", nh * hd, h, bias=True)
        g.linear(f"{p}.self_attn.k_proj", kv * hd, h, bias=True)
        g.linear(f"{p}.self_attn.v_proj", kv * hd, h, bias=True)
        g.linear(f"{p}.self_attn.o_proj", h, nh * hd, bias=True)
        g.add(f"{p}.self_attn.sinks", (nh,))
        g.add(f"{p}.post_attention_layernorm.weight", (h,))
        g.linear(f"{p}.mlp.router", e, h, bias=True)
        x = f"{p}.mlp.experts"
        for name, out, k in (("gate_up_proj", 2 * inter, h), ("down_proj", h, inter)):
            g.add(f"{x}.{name}_blocks", (e, out, k // 32, 16), "U8")
            g.add(f"{x}.{name}_scales", (e, out, k // 32), "U8")
            g.add(f"{x}.{name}_bias", (e, out))
    g.add("model.norm.weight", (h,))
    g.add("lm_head.weight", (v, h))
    return g


def test_gpt_oss_20b_21b_total_3_6b_active_and_hub_dtype_totals() -> None:
    cfg = repo_config("openai__gpt-oss-20b")
    g = gpt_oss(cfg)
    w = estimate_weights(snapshot_for(cfg, g), g.tensors, arch_for(cfg))
    m = w.moe
    assert m is not None and m.fused_experts
    assert published(w.parameters, "21")
    # OpenAI's model card: 3.61B active, counting the unembedding but not the embedding lookup
    assert published(m.active_parameters_no_embedding, "3.61")
    # the Hub's safetensors totals (corpus README): BF16 1,804,459,584 elements exactly ...
    assert w.by_dtype["BF16"].elements == 1_804_459_584 == w.by_dtype["BF16"].parameters
    # ... and U8 19,707,494,400 = old huggingface.js (blocks x 2 + scales); logical drops the scales
    scales = sum(t.numel for t in g.tensors if t.name.endswith("_scales"))
    assert w.by_dtype["U8"].parameters == 19_707_494_400 - scales
    q = w.quantization
    assert q is not None and q.method == "mxfp4" and q.bits == 4 and q.group_size == 32
    # 4 bits per value + one E8M0 byte per 32 values = 4.25 bits
    assert q.bits_per_parameter == pytest.approx(4.25)
    assert m.num_experts == 32 and m.experts_per_token == 4 and m.moe_layers == 24


def test_gpt_oss_120b_exact_integers_of_theory_6_6() -> None:
    """gpt-oss-120b = the 20b config with 36 layers and 128 experts (GptOssConfig defaults, theory 6.6)."""
    cfg = {**repo_config("openai__gpt-oss-20b"), "num_hidden_layers": 36, "num_local_experts": 128}
    cfg["layer_types"] = ["sliding_attention", "full_attention"] * 18
    g = gpt_oss(cfg)
    w = estimate_weights(snapshot_for(cfg, g), g.tensors, arch_for(cfg))
    assert w.parameters == 116_829_156_672
    assert w.total_bytes == 65_248_815_744  # blocks + scales + bf16 rest
    assert w.elements == 63_081_444_672  # what a naive numel sum (huggingface_hub) reports
    blocks = sum(t.numel for t in g.tensors if t.name.endswith("_blocks"))
    scales = sum(t.numel for t in g.tensors if t.name.endswith("_scales"))
    assert (blocks, scales) == (57_330_892_800, 3_583_180_800)
    assert w.parameters + scales == 120_412_337_472  # the old Hub figure ("120B") counted the scales
    assert w.moe is not None
    assert published(w.moe.active_parameters_no_embedding, "5.13")  # model card: 5.13B active
