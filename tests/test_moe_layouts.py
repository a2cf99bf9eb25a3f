"""MoE active parameters across storage layouts, plus tied embeddings.

Every expectation is derived in the test from the real config's dimensions: the active count of a
top-k of E model is ``total - (E - k) / E x routed-expert parameters`` (MTP and vision towers aside),
whatever the layout the experts are stored in.
"""

from __future__ import annotations

from typing import Any

from hubmem.estimate.weights.report import estimate_weights
from hubmem.formats.dtypes import DTYPE_BITS
from hubmem.formats.safetensors import SafetensorsHeader, Tensor
from hubmem.parse.config import parse_config
from hubmem.schema.architecture import Architecture
from hubmem.snapshot import Snapshot, WeightFile

from support.paths import repo_config


def published(x: int, figure: str, unit: float = 1e9) -> bool:
    """Rounded or truncated publication of ``x`` (see test_moe_published)."""
    decimals = len(figure.split(".")[1]) if "." in figure else 0
    ulp = 10.0**-decimals
    v = x / unit
    return float(figure) - ulp / 2 <= v < float(figure) + ulp


class Gen:
    def __init__(self) -> None:
        self.tensors: list[Tensor] = []
        self.offset = 0

    def add(self, name: str, shape: tuple[int, ...], dtype: str = "BF16") -> None:
        n = 1
        for d in shape:
            n *= d
        size = n * DTYPE_BITS[dtype] // 8
        self.tensors.append(Tensor(name, dtype, shape, self.offset, self.offset + size, "model.safetensors"))
        self.offset += size


def run(cfg: dict[str, Any], g: Gen, arch: Architecture | None = None) -> Any:
    snap = Snapshot(
        "t/m",
        "main",
        None,
        "local",
        config=cfg,
        files=[WeightFile("model.safetensors", 0, SafetensorsHeader([]))],
    )
    return estimate_weights(snap, g.tensors, arch or parse_config(cfg))


def qwen3_moe(cfg: dict[str, Any], *, fused: bool, layers: int = 4, mtp: bool = False) -> Gen:
    """Qwen3-MoE names; ``fused``: transformers-5 stacked ``mlp.experts.gate_up_proj`` [E, 2I, H]."""
    g = Gen()
    h, e, mi, hd = cfg["hidden_size"], cfg["num_experts"], cfg["moe_intermediate_size"], cfg["head_dim"]
    g.add("model.embed_tokens.weight", (cfg["vocab_size"], h))
    prefixes = [f"model.layers.{i}" for i in range(layers)] + (["mtp.layers.0"] if mtp else [])
    for p in prefixes:
        g.add(f"{p}.input_layernorm.weight", (h,))
        g.add(f"{p}.self_attn.q_proj.weight", (cfg["num_attention_heads"] * hd, h))
        g.add(f"{p}.self_attn.k_proj.weight", (cfg["num_key_value_heads"] * hd, h))
        g.add(f"{p}.self_attn.o_proj.weight", (h, cfg["num_attention_heads"] * hd))
        g.add(f"{p}.mlp.gate.weight", (e, h))
        if fused:
            g.add(f"{p}.mlp.experts.gate_up_proj", (e, 2 * mi, h))
            g.add(f"{p}.mlp.experts.down_proj", (e, h, mi))
        else:
            for x in range(e):
                g.add(f"{p}.mlp.experts.{x}.gate_proj.weight", (mi, h))
                g.add(f"{p}.mlp.experts.{x}.up_proj.weight", (mi, h))
                g.add(f"{p}.mlp.experts.{x}.down_proj.weight", (h, mi))
    if mtp:
        g.add("mtp.fc.weight", (h, 2 * h))
    g.add("model.norm.weight", (h,))
    g.add("lm_head.weight", (cfg["vocab_size"], h))
    return g


def expected_active(cfg: dict[str, Any], total: int, layers: int) -> int:
    e, k = cfg["num_experts"], cfg["num_experts_per_tok"]
    routed = layers * e * 3 * cfg["hidden_size"] * cfg["moe_intermediate_size"]
    return total - routed + routed * k // e


def test_fused_and_per_expert_layouts_agree() -> None:
    cfg = repo_config("Qwen__Qwen3-30B-A3B")
    per = run(cfg, qwen3_moe(cfg, fused=False))
    fused = run(cfg, qwen3_moe(cfg, fused=True))
    assert per.moe is not None and fused.moe is not None
    assert fused.moe.fused_experts and not per.moe.fused_experts
    assert per.parameters == fused.parameters
    assert per.moe.active_parameters == fused.moe.active_parameters == expected_active(cfg, per.parameters, 4)
    assert per.moe.parameters_per_expert == fused.moe.parameters_per_expert == 3 * 2048 * 768


def test_mtp_module_segment_is_excluded_from_active() -> None:
    cfg = repo_config("Qwen__Qwen3-30B-A3B")
    w = run(cfg, qwen3_moe(cfg, fused=False, mtp=True))
    assert w.moe is not None
    mtp = w.by_component["mtp"].parameters
    h, e, mi = cfg["hidden_size"], cfg["num_experts"], cfg["moe_intermediate_size"]
    assert mtp > e * 3 * h * mi  # a full MoE layer + fc
    assert w.moe.mtp_parameters == mtp
    assert w.moe.active_parameters == expected_active(cfg, w.parameters - mtp, 4)


def test_gptq_packed_experts_count_logical_parameters() -> None:
    """Mixtral-shaped MoE with GPTQ 4-bit experts: active uses unpacked (logical) expert parameters."""
    e, k, h, inter, layers = 8, 2, 256, 512, 2
    g = Gen()
    g.add("model.embed_tokens.weight", (1000, h), "F16")
    for i in range(layers):
        p = f"model.layers.{i}.block_sparse_moe"
        g.add(f"{p}.gate.weight", (e, h), "F16")
        for x in range(e):
            for w_name, inp, out in (("w1", h, inter), ("w2", inter, h), ("w3", h, inter)):
                m = f"{p}.experts.{x}.{w_name}"
                g.add(f"{m}.qweight", (inp * 4 // 32, out), "I32")
                g.add(f"{m}.qzeros", (inp // 128, out * 4 // 32), "I32")
                g.add(f"{m}.scales", (inp // 128, out), "F16")
                g.add(f"{m}.g_idx", (inp,), "I32")
    g.add("lm_head.weight", (1000, h), "F16")
    cfg = {
        "num_local_experts": e,
        "num_experts_per_tok": k,
        "quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 128},
    }
    w = run(cfg, g)
    routed = layers * e * 3 * h * inter
    non_routed = 2 * 1000 * h + layers * e * h
    assert w.parameters == routed + non_routed
    assert w.moe is not None and w.moe.active_parameters == non_routed + routed * k // e
    assert w.moe.expert_parameters == routed


def llama4_text(cfg: dict[str, Any]) -> Gen:
    """Llama 4 checkpoint names: stacked experts ``feed_forward.experts.gate_up_proj`` [E, H, 2I]."""
    t = cfg["text_config"]
    h, e, i, hd = t["hidden_size"], t["num_local_experts"], t["intermediate_size"], t["head_dim"]
    nh, kv = t["num_attention_heads"], t["num_key_value_heads"]
    g = Gen()
    pre = "language_model.model"
    g.add(f"{pre}.embed_tokens.weight", (t["vocab_size"], h))
    for n in range(t["num_hidden_layers"]):
        p = f"{pre}.layers.{n}"
        g.add(f"{p}.input_layernorm.weight", (h,))
        g.add(f"{p}.self_attn.q_proj.weight", (nh * hd, h))
        g.add(f"{p}.self_attn.k_proj.weight", (kv * hd, h))
        g.add(f"{p}.self_attn.v_proj.weight", (kv * hd, h))
        g.add(f"{p}.self_attn.o_proj.weight", (h, nh * hd))
        g.add(f"{p}.post_attention_layernorm.weight", (h,))
        f = f"{p}.feed_forward"
        g.add(f"{f}.router.weight", (e, h))
        g.add(f"{f}.experts.gate_up_proj", (e, h, 2 * i))
        g.add(f"{f}.experts.down_proj", (e, i, h))
        for s in ("gate_proj", "up_proj"):
            g.add(f"{f}.shared_expert.{s}.weight", (i, h))
        g.add(f"{f}.shared_expert.down_proj.weight", (h, i))
    g.add(f"{pre}.norm.weight", (h,))
    g.add("language_model.lm_head.weight", (t["vocab_size"], h))
    # a stand-in vision encoder + projector: they run per image, so they must not change "active"
    g.add("vision_model.model.layers.0.self_attn.q_proj.weight", (1408, 1408))
    g.add("multi_modal_projector.linear_1.weight", (h, 4096))
    return g


def test_llama4_scout_17b_active() -> None:
    cfg = repo_config("meta-llama__Llama-4-Scout-17B-16E-Instruct")
    w = run(cfg, llama4_text(cfg))
    assert w.moe is not None and w.moe.fused_experts
    assert w.moe.num_experts == 16 and w.moe.experts_per_token == 1 and w.moe.shared_experts == 1
    assert published(w.moe.active_parameters, "17")  # "17B active parameters"
    towers = w.by_component["vision_tower"].parameters + w.by_component["projector"].parameters
    text = w.parameters - towers
    routed = w.by_component["experts"].parameters
    assert w.moe.active_parameters == text - routed + routed // 16


def test_moe_config_without_experts_per_token() -> None:
    cfg = repo_config("Qwen__Qwen3-30B-A3B")
    g = qwen3_moe(cfg, fused=False, layers=1)
    bare = {k: v for k, v in cfg.items() if k != "num_experts_per_tok"}
    w = run(bare, g)
    assert w.moe is None
    assert any("experts-per-token" in n for n in w.notes)


def test_dense_model_has_no_moe_section() -> None:
    cfg = repo_config("Qwen__Qwen3-0.6B")
    w = run(cfg, qwen3_dense(cfg, lm_head=True))
    assert w.moe is None


# ------------------------------------------------------------------------------------------ tied embeddings


def qwen3_dense(cfg: dict[str, Any], *, lm_head: bool = False) -> Gen:
    """Llama / Qwen3 dense names (Qwen3 adds q_norm / k_norm); ``lm_head``: store the output matrix."""
    h, i = cfg["hidden_size"], cfg["intermediate_size"]
    hd = cfg.get("head_dim") or h // cfg["num_attention_heads"]
    g = Gen()
    g.add("model.embed_tokens.weight", (cfg["vocab_size"], h))
    for n in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{n}"
        g.add(f"{p}.input_layernorm.weight", (h,))
        g.add(f"{p}.self_attn.q_proj.weight", (cfg["num_attention_heads"] * hd, h))
        g.add(f"{p}.self_attn.k_proj.weight", (cfg["num_key_value_heads"] * hd, h))
        g.add(f"{p}.self_attn.v_proj.weight", (cfg["num_key_value_heads"] * hd, h))
        g.add(f"{p}.self_attn.o_proj.weight", (h, cfg["num_attention_heads"] * hd))
        if cfg.get("model_type") == "qwen3":
            g.add(f"{p}.self_attn.q_norm.weight", (hd,))
            g.add(f"{p}.self_attn.k_norm.weight", (hd,))
        g.add(f"{p}.post_attention_layernorm.weight", (h,))
        for s in ("gate_proj", "up_proj"):
            g.add(f"{p}.mlp.{s}.weight", (i, h))
        g.add(f"{p}.mlp.down_proj.weight", (h, i))
    g.add("model.norm.weight", (h,))
    if lm_head:
        g.add("lm_head.weight", (cfg["vocab_size"], h))
    return g


def test_tied_head_not_stored_llama_3_2_1b() -> None:
    cfg = repo_config("meta-llama__Llama-3.2-1B")
    assert cfg["tie_word_embeddings"] is True
    w = run(cfg, qwen3_dense(cfg))
    assert w.tied_embeddings is True and w.tied_duplicate_bytes == 0
    assert "lm_head" not in w.by_component
    assert published(w.parameters, "1.24")  # Hub model page: 1.24B params
    assert any("tied" in n for n in w.notes)


def test_tied_head_stored_anyway_qwen3_0_6b() -> None:
    """Qwen3-0.6B ties the head but its file stores lm_head.weight too (Hub API: BF16 751,632,384)."""
    cfg = repo_config("Qwen__Qwen3-0.6B")
    assert cfg["tie_word_embeddings"] is True
    w = run(cfg, qwen3_dense(cfg, lm_head=True))
    assert w.tied_embeddings is True
    assert w.by_dtype["BF16"].elements == 751_632_384
    table = cfg["vocab_size"] * cfg["hidden_size"]
    assert (w.tied_duplicate_parameters, w.tied_duplicate_bytes) == (table, 2 * table)
    unique = w.parameters - w.tied_duplicate_parameters
    assert published(unique, "0.6")  # card: 0.6B parameters, 0.44B non-embedding
    assert published(unique - w.by_component["embeddings"].parameters, "0.44")


def test_untied_head_missing_is_noted() -> None:
    cfg = repo_config("meta-llama__Llama-3.1-8B")
    w = run({**cfg, "num_hidden_layers": 1}, qwen3_dense({**cfg, "num_hidden_layers": 1}))
    assert w.tied_embeddings is False
    assert any("no lm_head" in n for n in w.notes)


def test_gpt2_ties_by_default_and_masks_are_buffers() -> None:
    """openai-community/gpt2 config has no tie_word_embeddings key (default true) and no lm_head tensor;
    its safetensors keep the 12 causal-mask buffers ``h.N.attn.bias`` [1, 1, 1024, 1024]."""
    cfg = repo_config("openai-community__gpt2")
    assert "tie_word_embeddings" not in cfg
    h, n, v, ctx = cfg["n_embd"], cfg["n_layer"], cfg["vocab_size"], cfg["n_ctx"]
    g = Gen()
    g.add("wte.weight", (v, h), "F32")
    g.add("wpe.weight", (cfg["n_positions"], h), "F32")
    for i in range(n):
        p = f"h.{i}"
        for ln in ("ln_1", "ln_2"):
            g.add(f"{p}.{ln}.weight", (h,), "F32")
            g.add(f"{p}.{ln}.bias", (h,), "F32")
        g.add(f"{p}.attn.bias", (1, 1, ctx, ctx), "U8")
        g.add(f"{p}.attn.c_attn.weight", (h, 3 * h), "F32")
        g.add(f"{p}.attn.c_attn.bias", (3 * h,), "F32")
        g.add(f"{p}.attn.c_proj.weight", (h, h), "F32")
        g.add(f"{p}.attn.c_proj.bias", (h,), "F32")
        g.add(f"{p}.mlp.c_fc.weight", (h, 4 * h), "F32")
        g.add(f"{p}.mlp.c_fc.bias", (4 * h,), "F32")
        g.add(f"{p}.mlp.c_proj.weight", (4 * h, h), "F32")
        g.add(f"{p}.mlp.c_proj.bias", (h,), "F32")
    g.add("ln_f.weight", (h,), "F32")
    g.add("ln_f.bias", (h,), "F32")
    w = run(cfg, g)
    assert w.tied_embeddings is True
    assert w.by_component["buffers"].tensors == n
    assert w.parameters - w.by_component["buffers"].parameters == 124_439_808  # GPT-2 small, "124M"
    assert published(w.parameters, "137", 1e6)  # the Hub page (masks counted): "137M params"
