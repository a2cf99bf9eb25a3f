"""The vLLM engine view: block rounding, reservation formulas and hybrid groups (docs/theory.md 2.3, 2.5,
2.6).

Expected values are computed in each test from the vLLM formulas quoted in docs/theory.md and the config's
own dimensions (kv_cache_interface.py max_memory_usage_bytes; kv_cache_utils.py grouping;
HybridAttentionMambaModelConfig block-size rule).
"""

from __future__ import annotations

from typing import Any

from hubmem.estimate.kv.report import estimate_kv_cache
from hubmem.parse.config import parse_config
from hubmem.schema.kv import KVCacheReport, KVOptions

from support.paths import repo_config
from support.theory_configs import theory_config


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def vllm(config: dict[str, Any], **options: Any) -> KVCacheReport:
    report = estimate_kv_cache(parse_config(config), KVOptions(engine="vllm", **options))
    assert report.complete, report.missing
    assert report.paged is not None
    return report


def test_block_rounding_of_full_attention() -> None:
    cfg = repo_config("meta-llama__Llama-3.1-8B")
    page = 16 * cfg["num_key_value_heads"] * 2 * 128 * 2
    report = vllm(cfg, context=8193)
    assert report.total_bytes == cdiv(8193, 16) * page * cfg["num_hidden_layers"]
    assert report.paged is not None
    assert report.paged.logical_bytes_per_request == 8193 * 131_072
    assert report.by_layer_kind["full"].tokens_held == 513 * 16
    custom = vllm(cfg, context=8193, block_size=32)
    assert custom.total_bytes == cdiv(8193, 32) * 2 * page * cfg["num_hidden_layers"]


def test_sliding_used_blocks_after_a_long_request() -> None:
    cfg = repo_config("mistralai__Mistral-7B-v0.1")
    paged = vllm(cfg, context=32768).paged
    assert paged is not None
    # blocks outside the window are freed: cdiv(window - 1, 16) + 1 blocks still referenced
    assert paged.groups[0].used_blocks_per_request == cdiv(4096 - 1, 16) + 1
    assert paged.used_bytes_per_request == 32 * paged.groups[0].used_blocks_per_request * 65_536


def test_chunked_local_reservation() -> None:
    cfg = repo_config("meta-llama__Llama-4-Scout-17B-16E-Instruct")
    tc = cfg["text_config"]
    ctx, mnbt, chunk = 65536, 8192, tc["attention_chunk_size"]
    page = 16 * tc["num_key_value_heads"] * 2 * tc["head_dim"] * 2
    report = vllm(cfg, context=ctx, max_num_batched_tokens=mnbt)
    n = tc["num_hidden_layers"]
    full, chunked = n // 4, n - n // 4  # every 4th layer is NoPE/full
    assert chunked == 3 * full
    # groups of 12 layers (12 full : 36 chunked): 1 full group + 3 chunked groups, no padding
    expected = full * page * (cdiv(ctx, 16) + 3 * cdiv(min(chunk + mnbt, ctx), 16))
    assert report.total_bytes == expected
    assert report.paged is not None and report.paged.group_size == full


def test_qwen3_next_attention_block_enlarged_to_fit_the_gdn_page() -> None:
    cfg = theory_config("Qwen3-Next-80B-A3B")  # docs/theory.md 6.9
    gdn_page = (3 * (2 * 128 * 16 + 128 * 32) + 32 * 128 * 128) * 2  # docs/theory.md 6.9: 1,097,728
    assert gdn_page == 1_097_728
    attn_1tok = 2 * 2 * 256 * 2
    block = 16 * cdiv(gdn_page, 16 * attn_1tok)
    page = block * attn_1tok
    report = vllm(cfg, context=131072)
    paged = report.paged
    assert paged is not None and paged.block_size == block == 544
    assert {g.page_size_bytes for g in paged.groups} == {page}  # GDN page padded up to the attention page
    # 12 full + 36 GDN layers -> group size 12: one full group, three GDN groups of one block each
    assert report.total_bytes == 12 * page * (cdiv(131072, block) + 3)
    assert report.state_bytes_per_sequence == 36 * page


def test_nemotron_h_mamba2_hybrid() -> None:
    cfg = repo_config("nvidia__NVIDIA-Nemotron-3-Nano-30B-A3B-BF16")
    pattern = cfg["hybrid_override_pattern"]
    heads, hd, groups, state, k = (
        cfg["mamba_num_heads"],
        cfg["mamba_head_dim"],
        cfg["n_groups"],
        cfg["ssm_state_size"],
        cfg["conv_kernel"],
    )
    inter = heads * hd
    # conv in bf16 (model dtype), SSM in the config's mamba_ssm_cache_dtype float32
    mamba_page = (k - 1) * (inter + 2 * groups * state) * 2 + heads * hd * state * 4
    attn_1tok = 2 * cfg["num_key_value_heads"] * cfg["head_dim"] * 2
    block = 16 * cdiv(mamba_page, 16 * attn_1tok)
    page = block * attn_1tok
    n_attn, n_mamba = pattern.count("*"), pattern.count("M")
    report = vllm(cfg, context=16384)
    paged = report.paged
    assert paged is not None and paged.block_size == block
    assert paged.group_size == n_attn
    mamba_groups = cdiv(n_mamba, n_attn)
    assert report.total_bytes == n_attn * page * (cdiv(16384, block) + mamba_groups)
    assert report.by_layer_kind["mamba2"].padding_layers == mamba_groups * n_attn - n_mamba
    assert report.state_dtype == "float32"


def test_mamba_only_model_needs_one_page_per_layer() -> None:
    cfg = {
        "model_type": "mamba",
        "num_hidden_layers": 24,
        "hidden_size": 768,
        "intermediate_size": 1536,
        "state_size": 16,
        "conv_kernel": 4,
        "vocab_size": 50280,
        "torch_dtype": "float16",
    }
    report = vllm(cfg)
    assert report.total_bytes == 24 * ((4 - 1) * 1536 * 2 + 1536 * 16 * 2)
    assert report.paged is not None and len(report.paged.groups) == 1


def test_whisper_cross_attention_in_its_own_group() -> None:
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
        "torch_dtype": "float16",
    }
    report = vllm(cfg)
    page = 16 * 6 * 2 * 64 * 2
    # 4 self-attention + 4 cross-attention layers: two groups of 4 (CrossAttentionSpec: cdiv(1500, 16) blocks)
    assert report.total_bytes == 4 * page * (cdiv(448, 16) + cdiv(1500, 16))


def test_deepseek_v32_indexer_cache_and_default_fp8_ds_mla() -> None:
    cfg = repo_config("deepseek-ai__DeepSeek-V3.2")
    report = vllm(cfg)
    assert report.dtype == "fp8_ds_mla"  # vLLM's default for V3.2 when kv_dtype is auto
    index = cfg["index_head_dim"] + cfg["index_head_dim"] // 128 * 4  # fp8 key + fp32 scale per 128 values
    assert report.by_layer_kind["indexer"].bytes_per_token == cfg["num_hidden_layers"] * index
    assert report.bytes_per_token == cfg["num_hidden_layers"] * (656 + index)
    bf16 = vllm(cfg, kv_dtype="bf16")
    assert bf16.by_layer_kind["mla"].bytes_per_token == cfg["num_hidden_layers"] * 576 * 2
