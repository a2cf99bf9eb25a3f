"""Config-derived parameter counts against published figures.

Every expected number below comes from outside hubmem: the corpus README (Hub API / model cards / index
files), docs/theory.md section 6 (worked examples), or the vendors' own documents, cited next to each
assertion.
Rounded published figures are compared at the precision they were published with.
"""

from __future__ import annotations

from typing import Any

from hubmem.estimate.params.formula import ConfigParams, expected_parameters
from hubmem.parse.config import parse_config

from support.paths import repo_config
from support.theory_configs import theory_config


def count(config: dict[str, Any]) -> ConfigParams:
    return expected_parameters(parse_config(config))


def billions(n: int | None, digits: int = 1) -> float:
    assert n is not None
    return round(n / 1e9, digits)


def test_llama_3_1_8b_exact() -> None:
    # corpus README: 8,030,261,248 (Hub API); docs/theory.md 6.1 / 6.10: P = 8,030,261,248
    p = count(repo_config("meta-llama/Llama-3.1-8B"))
    assert p.total == 8_030_261_248
    assert p.active == p.total  # dense
    assert p.complete
    # untied: embeddings and lm_head are both V x H (128256 x 4096, config values)
    assert p.components["embeddings"] == p.components["lm_head"] == 128256 * 4096


def test_mistral_7b_v0_1_exact() -> None:
    # docs/theory.md 6.2: "Params 7,241,732,096 [derived from config]"; config = the corpus copy of
    # mistralai/Mistral-7B-v0.1/config.json (same values as docs/theory.md's
    # https://huggingface.co/dmayboroda/42_mistral_0.1)
    assert count(repo_config("mistralai/Mistral-7B-v0.1")).total == 7_241_732_096


QWEN2_5_7B = theory_config("Qwen2.5-7B")  # docs/theory.md 6.3


def test_qwen2_5_7b_exact_with_qkv_biases() -> None:
    # docs/theory.md 6.3: "Params 7,615,616,512 (q/k/v biases included)" = parameters.BF16 in
    # huggingface_hub #4221
    p = count(QWEN2_5_7B)
    assert p.total == 7_615_616_512
    # the Qwen2-7B-Instruct corpus config has the same dimensions, hence the same count
    assert count(repo_config("Qwen/Qwen2-7B-Instruct")).total == 7_615_616_512
    # attention = weights + the q/k/v biases (28 layers x (28 + 4 + 4) heads x 128); o_proj has no bias
    biases = 28 * (28 + 4 + 4) * 128
    assert p.components["attention"] - biases == 28 * (3584 * 3584 + 2 * 3584 * 512 + 3584 * 3584)


def test_devstral_text_model_equals_index_total_parameters() -> None:
    # The corpus copy of mistralai/Devstral-Small-2507 is the text-only MistralForCausalLM checkpoint: its
    # model.safetensors.index.json weight_map holds only language-model tensors (model.layers.*, embed_tokens,
    # norm, lm_head) and metadata.total_parameters = 23,572,403,200 (corpus README); total_size = 2 x that
    # (bf16).
    index = repo_config("mistralai/Devstral-Small-2507", "model.safetensors.index.json")
    assert all(k.startswith(("model.", "lm_head.")) for k in index["weight_map"])
    assert not any("vision" in k or "multi_modal" in k for k in index["weight_map"])
    p = count(repo_config("mistralai/Devstral-Small-2507"))
    assert p.total == int(index["metadata"]["total_parameters"]) == 23_572_403_200
    assert 2 * p.total == int(index["metadata"]["total_size"])


GPT_OSS_120B = theory_config("gpt-oss-120b")  # docs/theory.md 6.6


def test_gpt_oss_120b_logical_parameters() -> None:
    # docs/theory.md 6.6: "Logical params: 116,829,156,672 (experts 114,661,785,600; rest 2,167,371,072)"
    p = count(GPT_OSS_120B)
    assert p.total == 116_829_156_672
    # theory's "experts" are the expert weight matrices only; hubmem's experts component also holds the
    # expert biases (gate_up_proj_bias [E, 2I] + down_proj_bias [E, H] per layer), which theory counts in
    # "rest".
    expert_biases = 36 * 128 * (2 * 2880 + 2880)
    assert p.components["experts"] - expert_biases == 114_661_785_600
    assert p.total - (p.components["experts"] - expert_biases) == 2_167_371_072


def test_gpt_oss_20b_matches_hub_dtype_totals() -> None:
    # corpus README: the Hub's safetensors totals for openai/gpt-oss-20b are BF16 1,804,459,584 +
    # U8 19,707,494,400 elements. The U8 figure was computed by the old huggingface.js rule "blocks x 2 +
    # scales" (docs/theory.md 3.3), and MXFP4 has one scale byte per 32 logical elements, so
    # U8 = logical + logical/32, i.e. logical = U8 x 32/33.
    u8, bf16 = 19_707_494_400, 1_804_459_584
    assert u8 * 32 % 33 == 0
    p = count(repo_config("openai/gpt-oss-20b"))
    assert p.total == bf16 + u8 * 32 // 33
    # OpenAI model card: 21B parameters, 3.6B active; the active figure leaves out the input embedding
    assert billions(p.total, 0) == 21
    assert billions(p.active - p.components["embeddings"]) == 3.6  # type: ignore[operator]


def test_qwen3_30b_a3b_total_and_active() -> None:
    # corpus README (model card): 30.5B total, 29.9B non-embedding, 3.3B activated
    p = count(repo_config("Qwen/Qwen3-30B-A3B"))
    assert billions(p.total) == 30.5
    assert billions(p.total - p.components["embeddings"] - p.components["lm_head"]) == 29.9  # type: ignore[operator]
    assert p.active is not None and 3.3e9 <= p.active < 3.4e9  # card figure, truncated to 0.1B
    # the FP8 repo has the same logical parameters (scales are not parameters)
    assert count(repo_config("Qwen/Qwen3-30B-A3B-FP8")).total == p.total


def test_mixtral_8x7b_total_and_active() -> None:
    # corpus README: 46.7B total, 12.9B active (Mistral AI's figures, embeddings included)
    p = count(repo_config("mistralai/Mixtral-8x7B-v0.1"))
    assert billions(p.total) == 46.7
    assert billions(p.active) == 12.9


def test_deepseek_v3_main_model_and_mtp() -> None:
    # DeepSeek-V3 README: "685B, which includes 671B of the Main Model weights and 14B of the MTP Module
    # weights";
    # README_WEIGHTS.md: main model 671B, "Activation parameters: 36.6B (including 0.9B for the output Head)";
    # MTP: "11.5B unique parameters (excluding the shared 0.9B Embedding and 0.9B output Head)".
    config = repo_config("deepseek-ai/DeepSeek-V3")
    p = count(config)
    assert billions(p.total, 0) == 671
    # active without the input embedding (DeepSeek's convention, the output head included)
    assert billions(p.active - p.components["embeddings"]) == 36.6  # type: ignore[operator]
    shared = 2 * 129280 * 7168  # the MTP module's embedding + head, stored again in the checkpoint
    unique = p.mtp - shared
    # ours = the decoder layer (11.51B) + eh_proj 2H x H (0.10B) + norms; DeepSeek's "11.5B" rounds this down
    assert 11.5e9 <= unique < 11.7e9
    # the checkpoint holds main + MTP; the Hub's "685B" also counts the FP8 weight_scale_inv tensors (F32)
    assert p.checkpoint_total is not None and 684e9 <= p.checkpoint_total < 686e9
    # R1 has the same architecture
    assert count(repo_config("deepseek-ai/DeepSeek-R1")).total == p.total


def test_deepseek_v2_lite_total_and_active() -> None:
    # corpus README: DeepSeek-V2-Lite 15.7B total, 2.4B active. The corpus has only a subset of the HF config
    # (mlc-llm preset; q_lora_rank absent = no q LoRA, as in V2-Lite).
    p = count(repo_config("deepseek-ai/DeepSeek-V2-Lite", "../corpus/config.mlc-preset-subset.json"))
    assert billions(p.total) == 15.7
    active = p.active - p.components["embeddings"]  # type: ignore[operator]
    assert 2.4e9 <= active < 2.5e9


def test_deepseek_v2_from_reference_inference_config() -> None:
    # DeepSeek-V2 paper / model card: 236B total, 21B activated. The corpus has DeepSeek's reference-inference
    # config (inference/configs/config_236B.json); its keys are renamed here to the HF names they stand for.
    ref = repo_config("deepseek-ai/DeepSeek-V2", "../corpus/deepseek_inference_config_236B.json")
    config = {
        "model_type": "deepseek_v2",
        "architectures": ["DeepseekV2ForCausalLM"],
        "vocab_size": ref["vocab_size"],
        "hidden_size": ref["dim"],
        "intermediate_size": ref["inter_dim"],
        "moe_intermediate_size": ref["moe_inter_dim"],
        "num_hidden_layers": ref["n_layers"],
        "first_k_dense_replace": ref["n_dense_layers"],
        "num_attention_heads": ref["n_heads"],
        "num_key_value_heads": ref["n_heads"],
        "n_routed_experts": ref["n_routed_experts"],
        "n_shared_experts": ref["n_shared_experts"],
        "num_experts_per_tok": ref["n_activated_experts"],
        "q_lora_rank": ref["q_lora_rank"],
        "kv_lora_rank": ref["kv_lora_rank"],
        "qk_nope_head_dim": ref["qk_nope_head_dim"],
        "qk_rope_head_dim": ref["qk_rope_head_dim"],
        "v_head_dim": ref["v_head_dim"],
        "tie_word_embeddings": False,
    }
    p = count(config)
    assert billions(p.total, 0) == 236
    assert billions(p.active - p.components["embeddings"], 0) == 21  # type: ignore[operator]


def test_nemotron_3_nano_hybrid_mamba_moe() -> None:
    # NVIDIA model card for Nemotron-3-Nano-30B-A3B: 31.6B total, 3.2B active (3.6B including embeddings)
    p = count(repo_config("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"))
    assert billions(p.total) == 31.6
    assert billions(p.active) == 3.6
    assert billions(p.active - p.components["embeddings"]) == 3.2  # type: ignore[operator]
    # 23 Mamba-2, 6 attention and 23 MoE blocks (hybrid_override_pattern)
    assert p.components["mamba"] > 0 and p.components["attention"] > 0


def test_gpt2_124m() -> None:
    # OpenAI's GPT-2 small: 124M parameters (lm_head tied to wte)
    p = count(repo_config("openai-community/gpt2"))
    assert round(p.total / 1e6) == 124  # type: ignore[operator]
    assert p.components["lm_head"] == 0


T5_BASE = theory_config("t5-base")  # docs/theory.md 6.8


def test_t5_base_220m() -> None:
    # T5 paper (Raffel et al., JMLR 2020, section 3.7): Base has "about 220 million parameters"
    # (encoder + decoder)
    p = count(T5_BASE)
    assert 220e6 <= p.total < 225e6  # type: ignore[operator]
    # the shared embedding is counted once (encoder, decoder and lm_head are tied to it)
    assert p.components["embeddings"] == 32128 * 768 and p.components["lm_head"] == 0
    # decoder layers carry a cross-attention block: 12 x 4 x 768 x 768 more attention than the encoder
    self_only = 12 * 4 * 768 * 768
    assert p.components["attention"] == 3 * self_only + 2 * 32 * 12  # + two relative-position bias tables


QWEN3_NEXT_80B = theory_config("Qwen3-Next-80B-A3B")  # docs/theory.md 6.9


def test_qwen3_next_80b_hybrid() -> None:
    # Qwen model card: "80B in total", 36 gated-DeltaNet + 12 gated-attention layers (docs/theory.md 6.9)
    p = count(QWEN3_NEXT_80B)
    assert billions(p.total, 0) == 80
    assert p.components["linear_attention"] > 0 and p.components["attention"] > 0
    # routed experts dominate: 48 layers x 512 experts x 3 x 2048 x 512, from the config alone
    assert p.components["experts"] == 48 * 512 * 3 * 2048 * 512
