"""KV options: dtype resolution, inapplicable options, context defaults, state dtypes, report shape."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hubmem.errors import HubmemError
from hubmem.estimate.kv.dtype import KVOptionError
from hubmem.estimate.kv.report import estimate_kv_cache
from hubmem.estimate.kv.state import state_size
from hubmem.parse.config import parse_config
from hubmem.schema.kv import KVCacheReport, KVOptions

from support.paths import repo_config


def test_fp8_ds_mla_needs_an_mla_model_and_vllm() -> None:
    llama = parse_config(repo_config("meta-llama__Llama-3.1-8B"))
    with pytest.raises(KVOptionError) as info:
        estimate_kv_cache(llama, KVOptions(engine="vllm", kv_dtype="fp8_ds_mla"))
    assert isinstance(info.value, ValueError) and isinstance(info.value, HubmemError)
    assert info.value.kind == "bad_option" and "MLA" in str(info.value)
    deepseek = parse_config(repo_config("deepseek-ai__DeepSeek-V3"))
    with pytest.raises(KVOptionError, match="engine=vllm"):
        estimate_kv_cache(deepseek, KVOptions(kv_dtype="fp8_ds_mla"))


def test_unknown_kv_dtype_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        KVOptions(kv_dtype="int3")
    with pytest.raises(ValidationError):
        KVOptions(context=0)


@pytest.mark.parametrize(
    ("option", "name", "size"),
    [
        ("auto", "float16", 2),
        ("fp32", "float32", 4),
        ("bf16", "bfloat16", 2),
        ("fp8_e5m2", "float8_e5m2", 1),
    ],
)
def test_kv_dtype_resolution(option: str, name: str, size: int) -> None:
    cfg = repo_config("TheBloke__Llama-2-13B-chat-GPTQ")  # torch_dtype float16, MHA 40 x 128
    report = estimate_kv_cache(parse_config(cfg), KVOptions(kv_dtype=option))
    assert report.dtype == name
    assert report.bytes_per_token == cfg["num_hidden_layers"] * cfg["num_key_value_heads"] * 2 * 128 * size


def test_default_context_and_max_context_scenario() -> None:
    gpt2 = repo_config("openai-community__gpt2")
    report = estimate_kv_cache(parse_config(gpt2), KVOptions())
    assert report.context == gpt2["n_positions"]  # 8192 capped at the model's max context
    assert [s.label for s in report.scenarios] == ["requested"]
    llama = estimate_kv_cache(parse_config(repo_config("meta-llama__Llama-3.1-8B")), KVOptions())
    assert [(s.label, s.context) for s in llama.scenarios] == [("requested", 8192), ("max_context", 131072)]
    beyond = estimate_kv_cache(parse_config(gpt2), KVOptions(context=4096))
    assert beyond.context == 4096 and any("exceeds" in a for a in beyond.assumptions)


def test_state_dtypes_per_engine() -> None:
    cfg = repo_config("nvidia__NVIDIA-Nemotron-3-Nano-30B-A3B-BF16")
    arch = parse_config(cfg)
    vllm = state_size(arch, "mamba2", "vllm")
    assert vllm is not None and (vllm.conv_dtype, vllm.ssm_dtype) == ("bfloat16", "float32")
    tf = state_size(arch, "mamba2", "transformers")
    assert tf is not None and tf.ssm_dtype == "float32"
    # transformers keeps conv_kernel columns, vLLM conv_kernel - 1
    assert tf.conv_elements * (cfg["conv_kernel"] - 1) == vllm.conv_elements * cfg["conv_kernel"]
    forced = state_size(arch, "mamba2", "vllm", "bfloat16")
    assert forced is not None and forced.ssm_dtype == "bfloat16"


def test_lightning_attention_state() -> None:
    cfg = {
        "model_type": "minimax",
        "num_hidden_layers": 4,
        "hidden_size": 64,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "head_dim": 16,
        "vocab_size": 10,
        "attn_type_list": [0, 1, 0, 1],
        "torch_dtype": "bfloat16",
        "max_position_embeddings": 1024,
    }
    report = estimate_kv_cache(parse_config(cfg), KVOptions(context=100))
    assert report.by_layer_kind["linear"].state_bytes_per_sequence == 2 * 4 * 16 * 16 * 2  # heads x hd x hd
    assert report.by_layer_kind["full"].bytes == 2 * 100 * 4 * 2 * 16 * 2


def test_report_shape_is_stable_when_incomplete() -> None:
    report = estimate_kv_cache(parse_config({"model_type": "mystery"}), KVOptions())
    assert isinstance(report, KVCacheReport)
    dumped = report.model_dump(mode="json")
    for key in (
        "dtype",
        "bytes_per_token",
        "context",
        "batch",
        "total_bytes",
        "state_bytes_per_sequence",
        "by_layer_kind",
        "missing",
        "assumptions",
    ):
        assert key in dumped
    assert dumped["complete"] is False and dumped["total_bytes"] == 0 and dumped["missing"]


def test_assumptions_name_the_engine_semantics() -> None:
    cfg = repo_config("mistralai__Mistral-7B-v0.1")
    arch = parse_config(cfg)
    dynamic = estimate_kv_cache(arch, KVOptions())
    assert any("DynamicCache" in a and "window-1" in a for a in dynamic.assumptions)
    static = estimate_kv_cache(arch, KVOptions(transformers_cache="static"))
    assert any("StaticCache" in a for a in static.assumptions)
    paged = estimate_kv_cache(arch, KVOptions(engine="vllm", max_num_batched_tokens=2048, block_size=32))
    assert any("block_size 32" in a and "max_num_batched_tokens 2,048" in a for a in paged.assumptions)
    assert paged.paged is not None and paged.paged.block_size == 32
