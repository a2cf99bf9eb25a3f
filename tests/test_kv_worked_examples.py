"""KV cache / recurrent state against the worked integer examples of docs/theory.md section 6.

Every expected integer below is printed in docs/theory.md section 6 (derived there from the quoted sources:
transformers cache_utils, vLLM kv_cache_interface / kv_cache_utils / mamba_utils). Configs not in
fixtures/repos come from fixtures/theory/<name>.json, whose "_source" says where docs/theory.md quotes them
from.
"""

from __future__ import annotations

from typing import Any

import pytest

from hubmem.estimate.kv.report import estimate_kv_cache
from hubmem.formats.safetensors import Tensor
from hubmem.parse.config import parse_config
from hubmem.schema.kv import KVCacheReport, KVOptions

from support.paths import repo_config
from support.theory_configs import theory_config


def kv(config: dict[str, Any], **options: Any) -> KVCacheReport:
    report = estimate_kv_cache(parse_config(config), KVOptions(**options))
    assert report.complete, report.missing
    return report


def scenario(report: KVCacheReport, label: str) -> int:
    return next(s.total_bytes for s in report.scenarios if s.label == label)


# --- 6.1 Llama-3.1-8B ----------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["transformers", "vllm"])
def test_llama_31_8b(engine: str) -> None:
    cfg = repo_config("meta-llama__Llama-3.1-8B")
    report = kv(cfg, engine=engine)
    assert report.bytes_per_token == 131_072
    assert report.context == 8192
    assert report.total_bytes == 1_073_741_824
    assert scenario(report, "max_context") == 17_179_869_184  # @131,072 tokens
    assert kv(cfg, engine=engine, kv_dtype="fp8").total_bytes == 536_870_912
    if engine == "vllm":
        paged = report.paged
        assert paged is not None and paged.block_size == 16
        assert paged.groups[0].page_size_bytes == 65_536  # 2 x 16 x 8 x 128 x 2
        assert paged.groups[0].blocks_per_request == 512
        assert paged.reserved_bytes_per_request == paged.logical_bytes_per_request  # no rounding loss


def test_batch_multiplies() -> None:
    cfg = repo_config("meta-llama__Llama-3.1-8B")
    assert kv(cfg, batch=4).total_bytes == 4 * 1_073_741_824
    assert kv(cfg, batch=4, engine="vllm").total_bytes == 4 * 1_073_741_824


# --- 6.2 Mistral-7B-v0.1 -------------------------------------------------------------------------------


def test_mistral_v01_sliding_window() -> None:
    cfg = repo_config("mistralai__Mistral-7B-v0.1")
    dynamic = kv(cfg)
    assert dynamic.total_bytes == 536_739_840  # DynamicCache keeps sliding_window - 1 = 4095 tokens
    assert dynamic.by_layer_kind["sliding"].tokens_held == 4095
    assert dynamic.bytes_per_token_all_layers == 131_072
    assert dynamic.bytes_per_token == 0  # every layer is capped by the 4096 window: no growth at length
    assert kv(cfg, transformers_cache="static").total_bytes == 536_870_912  # min(4096, 8192)
    full = dict(cfg, sliding_window=None)  # v0.2 / v0.3
    assert kv(full).total_bytes == 1_073_741_824


@pytest.mark.parametrize(("mnbt", "expected"), [(8192, 1_612_709_888), (2048, 807_403_520)])
def test_mistral_v01_vllm_reservation(mnbt: int, expected: int) -> None:
    report = kv(
        repo_config("mistralai__Mistral-7B-v0.1"), engine="vllm", context=32768, max_num_batched_tokens=mnbt
    )
    assert report.total_bytes == expected
    assert report.paged is not None
    assert report.paged.groups[0].blocks_per_request == (769 if mnbt == 8192 else 385)


# --- 6.3 Qwen2.5-7B ------------------------------------------------------------------------------------

QWEN25_7B = theory_config("Qwen2.5-7B")  # docs/theory.md 6.3


def test_qwen25_7b() -> None:
    report = kv(QWEN25_7B)
    assert report.bytes_per_token == 57_344
    assert report.total_bytes == 469_762_048
    assert kv(QWEN25_7B, context=32768).total_bytes == 1_879_048_192
    assert scenario(report, "max_context") == 7_516_192_768


# --- 6.4 DeepSeek-V3 (MLA) -----------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["transformers", "vllm"])
def test_deepseek_v3_mla_bf16(engine: str) -> None:
    cfg = repo_config("deepseek-ai__DeepSeek-V3")
    report = kv(cfg, engine=engine)
    assert report.bytes_per_token == 70_272  # 61 x 576 x 2
    assert kv(cfg, engine=engine, context=131072).total_bytes == 9_210_691_584
    assert scenario(report, "max_context") == 11_513_364_480  # @163,840
    assert kv(cfg, engine=engine, include_mtp=True).bytes_per_token == 71_424  # + the MTP layer


def test_deepseek_v3_mla_fp8_layouts_on_vllm() -> None:
    cfg = repo_config("deepseek-ai__DeepSeek-V3")
    assert kv(cfg, engine="vllm", kv_dtype="fp8").bytes_per_token == 35_136
    assert kv(cfg, engine="vllm", kv_dtype="fp8_ds_mla").bytes_per_token == 40_016
    paged = kv(cfg, engine="vllm").paged
    assert paged is not None and paged.block_size == 64
    assert paged.groups[0].page_size_bytes == 73_728  # 64 x 576 x 2


# --- 6.5 gemma-3-27b at 128k ---------------------------------------------------------------------------

GEMMA3_27B = theory_config("gemma-3-27b-text")  # docs/theory.md 6.5


def test_gemma3_27b_layer_split() -> None:
    arch = parse_config(GEMMA3_27B)
    assert [i for i, k in enumerate(arch.layer_kinds) if k == "full"] == list(range(5, 62, 6))  # 10 full
    assert arch.layer_kinds.count("sliding") == 52


def test_gemma3_27b_transformers() -> None:
    assert kv(GEMMA3_27B, context=131072, transformers_cache="static").total_bytes == 11_173_625_856
    assert (
        kv(GEMMA3_27B, context=131072).total_bytes == 11_173_199_872
    )  # DynamicCache: 1023 per sliding layer


@pytest.mark.parametrize(("mnbt", "expected"), [(8192, 15_275_130_880), (2048, 12_255_232_000)])
def test_gemma3_27b_vllm_hybrid_allocator(mnbt: int, expected: int) -> None:
    report = kv(GEMMA3_27B, context=131072, engine="vllm", max_num_batched_tokens=mnbt)
    assert report.total_bytes == expected
    paged = report.paged
    assert paged is not None and paged.group_size == 10
    kinds = [g.kind for g in paged.groups]
    assert kinds.count("full") == 1 and kinds.count("sliding") == 6
    assert sum(g.padding_layers for g in paged.groups) == 8
    assert {g.page_size_bytes for g in paged.groups} == {131_072}
    assert report.by_layer_kind["sliding"].padding_layers == 8


def test_gemma3_27b_vllm_without_hybrid_manager() -> None:
    report = kv(GEMMA3_27B, context=131072, engine="vllm", disable_hybrid_kv_cache_manager=True)
    assert report.total_bytes == 66_571_993_088  # = no SWA


# --- 6.6 gpt-oss-120b ----------------------------------------------------------------------------------

GPT_OSS_120B = theory_config("gpt-oss-120b")  # docs/theory.md 6.6


def test_gpt_oss_120b() -> None:
    report = kv(GPT_OSS_120B, context=131072, transformers_cache="static")
    assert report.bytes_per_token == 36_864  # 18 full layers, steady state
    assert report.total_bytes == 4_836_556_800
    assert kv(GPT_OSS_120B, context=131072, engine="vllm").total_bytes == 5_139_136_512
    no_swa = kv(GPT_OSS_120B, context=131072, engine="vllm", disable_hybrid_kv_cache_manager=True)
    assert no_swa.total_bytes == 9_663_676_416


def test_gpt_oss_120b_vllm_groups() -> None:
    paged = kv(GPT_OSS_120B, context=131072, engine="vllm").paged
    assert paged is not None and paged.group_size == 18
    assert sorted((g.kind, g.layers, g.page_size_bytes) for g in paged.groups) == [
        ("full", 18, 32_768),
        ("sliding", 18, 32_768),
    ]


# --- 6.7 falcon-mamba-7b -------------------------------------------------------------------------------

FALCON_MAMBA_7B = theory_config("falcon-mamba-7b")  # docs/theory.md 6.7


def test_falcon_mamba_state() -> None:
    arch = parse_config(FALCON_MAMBA_7B)
    assert (
        arch.mamba is not None and arch.mamba.intermediate_size == 8192
    )  # explicit key beats expand x hidden
    assert arch.layer_kinds == ["mamba"] * 64
    vllm = kv(FALCON_MAMBA_7B, engine="vllm")
    assert vllm.state_bytes_per_sequence == 19_922_944
    assert vllm.total_bytes == 19_922_944 and vllm.bytes_per_token == 0
    assert (
        kv(FALCON_MAMBA_7B, engine="vllm", context=100_000).total_bytes == 19_922_944
    )  # constant in context
    assert kv(FALCON_MAMBA_7B, engine="vllm", batch=3).total_bytes == 3 * 19_922_944
    assert kv(FALCON_MAMBA_7B, engine="vllm", ssm_dtype="float32").total_bytes == 36_700_160
    # transformers keeps conv_kernel columns (MambaCache); theory's figure is for a bf16 SSM state
    assert kv(FALCON_MAMBA_7B, ssm_dtype="bfloat16").state_bytes_per_sequence == 20_971_520


# --- 6.8 T5-base cross-attention -----------------------------------------------------------------------

T5_BASE = theory_config("t5-base")  # docs/theory.md 6.8


@pytest.mark.parametrize(
    ("dtype", "cross", "per_token"), [("fp32", 37_748_736, 73_728), ("fp16", 18_874_368, 36_864)]
)
def test_t5_base_cross_attention(dtype: str, cross: int, per_token: int) -> None:
    report = kv(T5_BASE, kv_dtype=dtype)
    assert report.by_layer_kind["cross"].bytes == cross  # 512 encoder tokens
    assert report.by_layer_kind["cross"].tokens_held == 512
    assert report.bytes_per_token == per_token  # decoder self-attention per generated token


def test_t5_base_auto_dtype_from_float32_tensors() -> None:
    # t5-base's config has no dtype: its float32 checkpoint tensors decide the activation dtype
    tensors = [Tensor("shared.weight", "F32", (32128, 768), 0, 32128 * 768 * 4)]
    report = estimate_kv_cache(parse_config(T5_BASE, tensors=tensors), KVOptions())
    assert report.dtype == "float32"
    assert report.by_layer_kind["cross"].bytes == 37_748_736


# --- 6.9 Qwen3-Next-80B-A3B ----------------------------------------------------------------------------

QWEN3_NEXT = theory_config("Qwen3-Next-80B-A3B")  # docs/theory.md 6.9


def test_qwen3_next_gated_deltanet() -> None:
    arch = parse_config(QWEN3_NEXT)
    assert arch.layer_kinds.count("linear") == 36 and arch.layer_kinds.count("full") == 12
    report = kv(QWEN3_NEXT, engine="vllm", context=131072)
    assert report.by_layer_kind["linear"].state_bytes_per_sequence == 39_518_208  # unpadded GDN state
    assert report.bytes_per_token == 24_576
    fp32 = kv(QWEN3_NEXT, engine="vllm", ssm_dtype="float32")
    assert fp32.by_layer_kind["linear"].state_bytes_per_sequence == 77_266_944
    held = kv(QWEN3_NEXT, context=131072)
    assert held.by_layer_kind["full"].bytes == 3_221_225_472
