"""Per-layer attention kinds (docs/theory.md 1.3) on real configs, plus the family rules on small inline
configs.

Expected kinds are derived in each test from the config's own keys and the rule quoted from the
transformers configuration class named in the test.
"""

from __future__ import annotations

from collections import Counter

from hubmem.estimate.kv.report import estimate_kv_cache
from hubmem.formats.safetensors import Tensor
from hubmem.parse.config import parse_config
from hubmem.schema.kv import KVOptions

from support.paths import repo_config

# --- real configs --------------------------------------------------------------------------------------


def test_mistral_v01_slides_on_every_layer() -> None:
    cfg = repo_config("mistralai__Mistral-7B-v0.1")
    arch = parse_config(cfg)
    assert arch.layer_kinds == ["sliding"] * cfg["num_hidden_layers"]
    assert arch.sliding_window == cfg["sliding_window"] == 4096


def test_null_sliding_window_means_full_attention() -> None:
    cfg = repo_config("mistralai__Devstral-Small-2507")
    assert "sliding_window" in cfg and cfg["sliding_window"] is None
    assert parse_config(cfg).layer_kinds == ["full"] * cfg["num_hidden_layers"]


def test_qwen2_sliding_window_is_ignored_without_use_sliding_window() -> None:
    cfg = repo_config("Qwen__Qwen2-7B-Instruct")
    assert cfg["sliding_window"] == 131072 and cfg["use_sliding_window"] is False
    arch = parse_config(cfg)
    assert arch.layer_kinds == ["full"] * cfg["num_hidden_layers"]
    assert any("use_sliding_window" in n for n in arch.notes)


def test_qwen2_rule_when_enabled_slides_from_max_window_layers() -> None:
    # configuration_qwen2.py: sliding iff use_sliding_window and i >= max_window_layers
    cfg = dict(
        repo_config("Qwen__Qwen2-7B-Instruct"),
        use_sliding_window=True,
        max_window_layers=20,
        sliding_window=4096,
    )
    kinds = parse_config(cfg).layer_kinds
    assert kinds == ["full"] * 20 + ["sliding"] * (cfg["num_hidden_layers"] - 20)


def test_gemma2_alternates_starting_with_sliding() -> None:
    cfg = repo_config("google__gemma-2-9b")
    arch = parse_config(cfg)
    n = cfg["num_hidden_layers"]
    assert arch.layer_kinds == ["sliding" if (i + 1) % 2 else "full" for i in range(n)]
    assert arch.layer_kinds[0] == "sliding"
    assert arch.sliding_window == cfg["sliding_window"]


def test_gemma3_pattern_every_sixth_layer_full() -> None:
    cfg = repo_config("google__gemma-3-1b-it")
    arch = parse_config(cfg)
    pattern = cfg["sliding_window_pattern"]
    full = [i for i, k in enumerate(arch.layer_kinds) if k == "full"]
    assert full == [i for i in range(cfg["num_hidden_layers"]) if (i + 1) % pattern == 0]
    assert full == [5, 11, 17, 23]
    assert arch.sliding_window == 512


def test_gemma3_default_pattern_and_serialized_private_key() -> None:
    base = {
        "model_type": "gemma3_text",
        "num_hidden_layers": 12,
        "hidden_size": 64,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "sliding_window": 32,
        "vocab_size": 100,
    }
    default = parse_config(base)
    assert [i for i, k in enumerate(default.layer_kinds) if k == "full"] == [5, 11]
    assert any("sliding_window_pattern=6" in n for n in default.notes)
    private = parse_config(dict(base, _sliding_window_pattern=3))
    assert [i for i, k in enumerate(private.layer_kinds) if k == "full"] == [2, 5, 8, 11]
    cohere = parse_config(dict(base, model_type="cohere2"))  # Cohere2 default pattern 4
    assert [i for i, k in enumerate(cohere.layer_kinds) if k == "full"] == [3, 7, 11]


def test_gpt_oss_layer_types_are_honoured() -> None:
    cfg = repo_config("openai__gpt-oss-20b")
    arch = parse_config(cfg)
    expected = {"sliding_attention": "sliding", "full_attention": "full"}
    assert arch.layer_kinds == [expected[t] for t in cfg["layer_types"]]
    assert arch.layer_kinds_source == "layer_types"
    assert arch.sliding_window == 128
    assert arch.quantization_config is not None and arch.quantization_config["quant_method"] == "mxfp4"
    # no dtype in this config: the activation dtype comes from the float tensors, never from U8 MXFP4 blocks
    tensors = [
        Tensor("model.layers.0.mlp.experts.gate_up_proj_blocks", "U8", (32, 5760, 90, 16), 0, 265420800),
        Tensor("model.layers.0.mlp.experts.gate_up_proj_scales", "U8", (32, 5760, 90), 265420800, 282009600),
        Tensor("model.embed_tokens.weight", "BF16", (201088, 2880), 0, 201088 * 2880 * 2),
        Tensor("model.layers.0.input_layernorm.weight", "BF16", (2880,), 0, 5760),
    ]
    with_tensors = parse_config(cfg, tensors=tensors)
    assert with_tensors.dtype == "bfloat16" and with_tensors.dtype_source == "tensors"
    assert not any(m.startswith("dtype") for m in with_tensors.missing)


def test_llama4_chunked_layers_and_nope_layers() -> None:
    cfg = repo_config("meta-llama__Llama-4-Scout-17B-16E-Instruct")
    tc = cfg["text_config"]
    arch = parse_config(cfg)
    assert arch.text_config_key == "text_config"
    assert arch.attention_chunk_size == tc["attention_chunk_size"] == 8192
    # configuration_llama4.py: no_rope_layers[i] = int((i+1) % 4 != 0); RoPE layers chunked, NoPE layers full
    n = tc["num_hidden_layers"]
    assert arch.layer_kinds == ["chunked" if (i + 1) % 4 else "full" for i in range(n)]
    explicit = parse_config(dict(tc, no_rope_layers=[1, 0] * (n // 2)))
    assert explicit.layer_kinds == ["chunked", "full"] * (n // 2)


def test_nemotron_super_no_op_attention_layers_hold_no_kv() -> None:
    cfg = repo_config("nvidia__Llama-3_3-Nemotron-Super-49B-v1")
    blocks = cfg["block_configs"]
    arch = parse_config(cfg)
    no_op = [i for i, b in enumerate(blocks) if b["attention"]["no_op"]]
    assert no_op  # the real config does have attention-free layers
    assert [i for i, k in enumerate(arch.layer_kinds) if k == "none"] == no_op
    assert arch.layer_kv_heads is not None
    for i, b in enumerate(blocks):
        g = b["attention"]["n_heads_in_group"]
        assert arch.layer_kv_heads[i] == (0 if b["attention"]["no_op"] else cfg["num_attention_heads"] // g)
    # KV: only the attention layers, each nkv x 2 x head_dim x 2 B (head_dim = 8192 / 64 = 128)
    hd = cfg["hidden_size"] // cfg["num_attention_heads"]
    per_token = sum(
        cfg["num_attention_heads"] // b["attention"]["n_heads_in_group"] * 2 * hd * 2
        for b in blocks
        if not b["attention"]["no_op"]
    )
    report = estimate_kv_cache(arch, KVOptions())
    assert report.bytes_per_token == per_token
    assert report.by_layer_kind["none"].layers == len(no_op)
    assert report.by_layer_kind["none"].bytes == 0


def test_nemotron_h_hybrid_override_pattern() -> None:
    cfg = repo_config("nvidia__NVIDIA-Nemotron-3-Nano-30B-A3B-BF16")
    pattern = cfg["hybrid_override_pattern"]
    arch = parse_config(cfg)
    assert len(pattern) == cfg["num_hidden_layers"]
    to_kind = {"M": "mamba2", "*": "full", "-": "none", "E": "none"}
    assert arch.layer_kinds == [to_kind[c] for c in pattern]
    m = arch.mamba
    assert m is not None and m.version == 2
    assert m.num_heads == cfg["mamba_num_heads"] and m.head_dim == cfg["mamba_head_dim"]
    assert m.intermediate_size == cfg["mamba_num_heads"] * cfg["mamba_head_dim"]
    assert m.n_groups == cfg["n_groups"] and m.state_size == cfg["ssm_state_size"]
    assert m.conv_kernel == cfg["conv_kernel"]
    assert m.ssm_cache_dtype == cfg["mamba_ssm_cache_dtype"] == "float32"
    assert arch.head_dim == cfg["head_dim"] and arch.num_kv_heads == cfg["num_key_value_heads"]
    assert (
        arch.num_experts == cfg["n_routed_experts"] and arch.experts_per_token == cfg["num_experts_per_tok"]
    )


def test_deepseek_mla_fields_and_mtp() -> None:
    cfg = repo_config("deepseek-ai__DeepSeek-V3")
    arch = parse_config(cfg)
    assert arch.mla is not None
    assert (
        arch.mla.kv_lora_rank == cfg["kv_lora_rank"] and arch.mla.qk_rope_head_dim == cfg["qk_rope_head_dim"]
    )
    assert arch.mla.index_head_dim is None
    assert arch.mtp_layers == cfg["num_nextn_predict_layers"] == 1
    assert arch.num_experts == cfg["n_routed_experts"] and arch.shared_experts == cfg["n_shared_experts"]
    assert arch.first_dense_layers == cfg["first_k_dense_replace"]
    assert arch.quantization_config == cfg["quantization_config"]
    v32 = parse_config(repo_config("deepseek-ai__DeepSeek-V3.2"))
    assert v32.mla is not None and v32.mla.index_head_dim == 128


def test_falcon_new_decoder_architecture_overrides_multi_query() -> None:
    cfg = repo_config("tiiuae__falcon-180B-chat")
    assert cfg["multi_query"] is True and cfg["new_decoder_architecture"] is True
    arch = parse_config(cfg)
    assert arch.num_kv_heads == cfg["num_kv_heads"] == 8
    assert arch.max_context == 2048  # FalconConfig default, no context key in this config
    old = parse_config(dict(cfg, new_decoder_architecture=False))
    assert old.num_kv_heads == 1


def test_gpt2_keys_and_float32_tensors() -> None:
    cfg = repo_config("openai-community__gpt2")
    arch = parse_config(
        cfg, tensors=[Tensor("h.0.attn.c_attn.weight", "F32", (768, 2304), 0, 768 * 2304 * 4)]
    )
    assert (arch.num_layers, arch.hidden_size, arch.num_attention_heads) == (
        cfg["n_layer"],
        cfg["n_embd"],
        cfg["n_head"],
    )
    assert arch.max_context == cfg["n_positions"]
    assert arch.intermediate_size == 4 * cfg["n_embd"]  # n_inner null -> 4H
    assert arch.dtype == "float32" and arch.dtype_source == "tensors"


def test_encoder_only_models_keep_no_cache() -> None:
    for repo in ("google-bert__bert-base-uncased", "sentence-transformers__all-MiniLM-L6-v2"):
        cfg = repo_config(repo)
        arch = parse_config(cfg)
        assert arch.layer_kinds == ["encoder"] * cfg["num_hidden_layers"]
        report = estimate_kv_cache(arch, KVOptions())
        assert report.complete and report.total_bytes == 0
        assert report.by_layer_kind["encoder"].layers == cfg["num_hidden_layers"]


def test_vlm_reads_text_config_and_its_dtype() -> None:
    cfg = repo_config("Qwen__Qwen3-VL-8B-Instruct")
    tc = cfg["text_config"]
    arch = parse_config(cfg)
    assert arch.model_type == cfg["model_type"] and arch.text_config_key == "text_config"
    assert (arch.num_layers, arch.hidden_size, arch.head_dim) == (
        tc["num_hidden_layers"],
        tc["hidden_size"],
        tc["head_dim"],
    )
    assert arch.dtype == tc["dtype"] and arch.dtype_source == "text_config:dtype"
    assert arch.max_context == tc["max_position_embeddings"]


def test_fp8_checkpoint_dtype_is_the_activation_dtype() -> None:
    cfg = repo_config("Qwen__Qwen3-30B-A3B-FP8")
    tensors = [
        Tensor("model.layers.0.mlp.experts.0.down_proj.weight", "F8_E4M3", (2048, 768), 0, 2048 * 768),
        Tensor("model.layers.0.mlp.experts.0.down_proj.weight_scale_inv", "F32", (16, 6), 0, 384),
    ]
    arch = parse_config(cfg, tensors=tensors)
    assert arch.dtype == cfg["torch_dtype"] == "bfloat16"
    assert arch.quantization_config == cfg["quantization_config"]
    # without a dtype key, F8 / U8 / I32 storage never counts; the floating tensors decide
    no_dtype = {k: v for k, v in cfg.items() if k != "torch_dtype"}
    tensors.append(Tensor("model.embed_tokens.weight", "BF16", (151936, 2048), 0, 151936 * 2048 * 2))
    assert parse_config(no_dtype, tensors=tensors).dtype == "bfloat16"
    only_storage = [
        Tensor("q", "I32", (1024, 1024), 0, 4 << 20),
        Tensor("w", "F8_E4M3", (1024, 1024), 0, 1 << 20),
    ]
    fallback = parse_config(no_dtype, tensors=only_storage)
    assert fallback.dtype == "bfloat16" and fallback.dtype_source == "default"
    assert any(m.startswith("dtype:") for m in fallback.missing)


def test_gptq_config_keeps_fp16_activation_dtype_and_mha_default() -> None:
    cfg = repo_config("TheBloke__Wizard-Vicuna-30B-Uncensored-GPTQ")
    assert "num_key_value_heads" not in cfg
    arch = parse_config(cfg)
    assert arch.dtype == "float16"
    assert arch.num_kv_heads == cfg["num_attention_heads"]
    assert arch.max_context == min(cfg["max_position_embeddings"], cfg["max_sequence_length"])
    assert arch.quantization_config is not None and arch.quantization_config["quant_method"] == "gptq"


def test_moe_fields() -> None:
    cfg = repo_config("mistralai__Mixtral-8x7B-v0.1")
    arch = parse_config(cfg)
    assert (arch.num_experts, arch.experts_per_token) == (
        cfg["num_local_experts"],
        cfg["num_experts_per_tok"],
    )
    q = repo_config("Qwen__Qwen3-30B-A3B")
    qa = parse_config(q)
    assert (qa.num_experts, qa.experts_per_token, qa.moe_intermediate_size) == (
        q["num_experts"],
        q["num_experts_per_tok"],
        q["moe_intermediate_size"],
    )


def test_phi_sliding_window_beyond_max_context_still_grows() -> None:
    cfg = repo_config("microsoft__Phi-3.5-mini-instruct")
    arch = parse_config(cfg)
    assert set(arch.layer_kinds) == {"sliding"} and cfg["sliding_window"] >= cfg["max_position_embeddings"]
    report = estimate_kv_cache(arch, KVOptions())
    hd = cfg["hidden_size"] // cfg["num_attention_heads"]
    assert report.bytes_per_token == cfg["num_hidden_layers"] * cfg["num_key_value_heads"] * 2 * hd * 2


# --- family rules on inline configs (transformers configuration classes) ---------------------------------


def test_qwen3_next_full_attention_interval() -> None:
    cfg = {
        "model_type": "qwen3_next",
        "num_hidden_layers": 8,
        "hidden_size": 64,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "vocab_size": 10,
        "linear_num_key_heads": 2,
        "linear_num_value_heads": 4,
        "linear_key_head_dim": 8,
        "linear_value_head_dim": 8,
        "linear_conv_kernel_dim": 4,
    }
    kinds = parse_config(cfg).layer_kinds
    assert kinds == ["linear", "linear", "linear", "full"] * 2  # default full_attention_interval = 4
    assert parse_config(dict(cfg, full_attention_interval=2)).layer_kinds == ["linear", "full"] * 4


def test_jamba_period_and_offset() -> None:
    cfg = {
        "model_type": "jamba",
        "num_hidden_layers": 16,
        "hidden_size": 64,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 10,
        "mamba_d_state": 16,
        "mamba_d_conv": 4,
        "mamba_expand": 2,
        "attn_layer_period": 8,
        "attn_layer_offset": 4,
        "intermediate_size": 999,
    }
    arch = parse_config(cfg)
    assert [i for i, k in enumerate(arch.layer_kinds) if k == "full"] == [4, 12]
    assert set(arch.layer_kinds) == {"full", "mamba"}
    assert (
        arch.mamba is not None and arch.mamba.intermediate_size == 2 * 64
    )  # mamba_expand x hidden, not the MLP's


def test_minimax_attn_type_list() -> None:
    cfg = {
        "model_type": "minimax",
        "num_hidden_layers": 4,
        "hidden_size": 64,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "head_dim": 16,
        "vocab_size": 10,
        "attn_type_list": [0, 0, 0, 1],
    }
    arch = parse_config(cfg)
    assert arch.layer_kinds == ["linear", "linear", "linear", "full"]
    assert arch.linear_attention is not None and arch.linear_attention.kind == "lightning"


def test_zamba2_hybrid_layers_also_carry_mamba_state() -> None:
    cfg = {
        "model_type": "zamba2",
        "num_hidden_layers": 4,
        "hidden_size": 64,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "attention_head_dim": 32,
        "vocab_size": 10,
        "mamba_d_state": 16,
        "mamba_d_conv": 4,
        "mamba_expand": 2,
        "n_mamba_heads": 8,
        "mamba_ngroups": 1,
        "layers_block_type": ["mamba", "mamba", "hybrid", "mamba"],
    }
    arch = parse_config(cfg)
    assert arch.layer_kinds == ["mamba2", "mamba2", "full", "mamba2"]
    assert arch.hybrid_mamba_layers == [2]
    assert arch.head_dim == 32
    report = estimate_kv_cache(arch, KVOptions())
    assert report.by_layer_kind["mamba2"].layers == 4  # the hybrid layer's Mamba block counts too


def test_mllama_cross_attention_layers_read_vision_tokens() -> None:
    cfg = {
        "model_type": "mllama",
        "text_config": {
            "model_type": "mllama_text_model",
            "num_hidden_layers": 8,
            "hidden_size": 64,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "vocab_size": 10,
            "cross_attention_layers": [3, 7],
            "max_position_embeddings": 1024,
        },
        "vision_config": {"image_size": 560, "patch_size": 14, "max_num_tiles": 4},
        "torch_dtype": "bfloat16",
    }
    arch = parse_config(cfg)
    assert arch.layer_kinds == ["full"] * 3 + ["cross"] + ["full"] * 3 + ["cross"]
    assert arch.cross_attention_layers == [3, 7]
    assert arch.encoder is not None and arch.encoder.encoder_length == 4 * (
        (560 // 14) ** 2 + 1
    )  # vLLM mllama
    report = estimate_kv_cache(arch, KVOptions(context=100))
    per_layer_token = 2 * 2 * 16 * 2
    assert report.by_layer_kind["full"].bytes == 6 * 100 * per_layer_token
    assert report.by_layer_kind["cross"].bytes == 2 * 6404 * per_layer_token


def test_whisper_decoder_and_encoder_length() -> None:
    cfg = {
        "model_type": "whisper",
        "is_encoder_decoder": True,
        "d_model": 384,
        "encoder_layers": 4,
        "decoder_layers": 4,
        "encoder_attention_heads": 6,
        "decoder_attention_heads": 6,
        "max_source_positions": 1500,
        "max_target_positions": 448,
        "vocab_size": 51865,
        "torch_dtype": "float32",
    }
    arch = parse_config(cfg)
    assert arch.layer_kinds == ["full"] * 4 and arch.cross_attention_layers == [0, 1, 2, 3]
    assert arch.encoder is not None and arch.encoder.encoder_length == 1500
    assert arch.max_context == 448 and arch.head_dim == 384 // 6 and arch.num_kv_heads == 6
    report = estimate_kv_cache(arch, KVOptions())
    assert report.context == 448  # default context capped at max_context
    assert report.by_layer_kind["cross"].bytes == 4 * 1500 * 6 * 2 * 64 * 4


def test_layer_types_vocabulary() -> None:
    cfg = {
        "model_type": "x",
        "num_hidden_layers": 6,
        "hidden_size": 64,
        "num_attention_heads": 4,
        "vocab_size": 10,
        "sliding_window": 16,
        "attention_chunk_size": 32,
        "layer_types": [
            "full_attention",
            "sliding_attention",
            "chunked_attention",
            "moe",
            "mlp",
            "attention",
        ],
    }
    assert parse_config(cfg).layer_kinds == ["full", "sliding", "chunked", "none", "none", "full"]


def test_uniform_rules() -> None:
    base = {
        "model_type": "x",
        "num_hidden_layers": 3,
        "hidden_size": 64,
        "num_attention_heads": 4,
        "vocab_size": 10,
    }
    assert parse_config(base).layer_kinds == ["full"] * 3
    assert parse_config(dict(base, sliding_window=8)).layer_kinds == ["sliding"] * 3
    assert parse_config(dict(base, attention_chunk_size=8)).layer_kinds == ["chunked"] * 3


def test_gemma3n_shared_kv_layers_hold_none() -> None:
    cfg = {
        "model_type": "gemma3n_text",
        "num_hidden_layers": 6,
        "hidden_size": 64,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "vocab_size": 10,
        "sliding_window": 8,
        "layer_types": ["sliding_attention", "full_attention"] * 3,
        "num_kv_shared_layers": 2,
    }
    assert parse_config(cfg).layer_kinds == ["sliding", "full", "sliding", "full", "none", "none"]


def test_key_variants() -> None:
    mpt = parse_config(
        {
            "model_type": "mpt",
            "n_layers": 2,
            "d_model": 64,
            "n_heads": 8,
            "max_seq_len": 2048,
            "vocab_size": 10,
            "attn_config": {"kv_n_heads": 2},
        }
    )
    assert (mpt.num_layers, mpt.hidden_size, mpt.num_attention_heads, mpt.num_kv_heads, mpt.head_dim) == (
        2,
        64,
        8,
        2,
        8,
    )
    assert mpt.max_context == 2048
    glm = parse_config(
        {
            "model_type": "chatglm",
            "num_layers": 2,
            "hidden_size": 64,
            "num_attention_heads": 8,
            "multi_query_group_num": 2,
            "kv_channels": 16,
            "padded_vocab_size": 100,
            "seq_length": 4096,
        }
    )
    assert (glm.num_kv_heads, glm.head_dim, glm.vocab_size, glm.max_context) == (2, 16, 100, 4096)
    zero_hd = parse_config(
        {
            "num_hidden_layers": 1,
            "hidden_size": 64,
            "num_attention_heads": 4,
            "head_dim": 0,
            "num_key_value_heads": None,
            "vocab_size": 10,
        }
    )
    assert (zero_hd.head_dim, zero_hd.num_kv_heads) == (16, 4)  # 0 and null fall through
    nested = parse_config(
        {
            "model_type": "qwen3_omni",
            "thinker_config": {
                "text_config": {
                    "num_hidden_layers": 2,
                    "hidden_size": 64,
                    "num_attention_heads": 4,
                    "vocab_size": 10,
                }
            },
        }
    )
    assert nested.text_config_key == "thinker_config.text_config" and nested.num_layers == 2
    ctx = parse_config(
        {
            "num_hidden_layers": 1,
            "hidden_size": 8,
            "num_attention_heads": 1,
            "vocab_size": 1,
            "max_position_embeddings": 4096,
            "model_max_length": 2048,
        }
    )
    assert (ctx.max_context, ctx.max_context_key) == (2048, "model_max_length")


def test_layer_count_from_layer_types_when_num_layers_absent() -> None:
    arch = parse_config(
        {"hidden_size": 64, "num_attention_heads": 4, "vocab_size": 10, "layer_types": ["full_attention"] * 5}
    )
    assert arch.num_layers == 5 and Counter(arch.layer_kinds) == {"full": 5}


def test_zamba_v1_defaults_mark_hybrid_layers() -> None:
    # ZambaConfig: attn_layer_period=6, attn_layer_offset=4 -> layers 4, 10 run shared attention + Mamba
    cfg = {
        "model_type": "zamba",
        "num_hidden_layers": 12,
        "hidden_size": 64,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "vocab_size": 10,
        "mamba_d_state": 16,
        "mamba_d_conv": 4,
        "mamba_expand": 2,
    }
    arch = parse_config(cfg)
    assert [i for i, k in enumerate(arch.layer_kinds) if k == "full"] == [4, 10]
    assert arch.hybrid_mamba_layers == [4, 10]
    assert arch.mamba is not None and arch.mamba.version == 1 and arch.mamba.intermediate_size == 128
