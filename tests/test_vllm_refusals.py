"""Configurations vLLM refuses, in vLLM's own words, and the start-up lines as each release prints them.

Messages are vLLM's (config/model.py, kv_cache_utils.py, quantization/fp8.py, V0 llm_engine.py) as quoted in
the research note and in real logs (shared/engine-logs: vllm-002, vllm-023); formats from the releases'
logger calls.
"""

from __future__ import annotations

import pytest

from hubmem.estimate.engines.vllm import refusals
from hubmem.estimate.engines.vllm.era import Era
from hubmem.estimate.engines.vllm.lines import Printed, format_gib, startup_lines, weights_line
from hubmem.estimate.engines.vllm.settings import resolve_settings
from hubmem.estimate.fit.common import tp_refusal
from hubmem.parse.config import parse_config
from hubmem.pipeline import build_report
from hubmem.schema.engines import VllmOptions
from hubmem.schema.kv import KVOptions
from hubmem.schema.options import Options
from scripts.validate.vllm_inputs import fixture_snapshot

from support.paths import repo_config

GiB = 1 << 30


def test_heads_not_divisible_by_tp() -> None:
    arch = parse_config(repo_config("Qwen__Qwen3-8B"))  # 32 heads, 8 KV heads
    assert (
        refusals.heads(arch, 3)
        == "Total number of attention heads (32) must be divisible by tensor parallel size (3)."
    )
    assert tp_refusal(arch, 3) == "vLLM would refuse: " + refusals.heads(arch, 3)  # type: ignore[operator]
    assert refusals.heads(arch, 16) is None  # KV heads replicate (8 < 16)
    assert refusals.heads(arch, 8) is None


def test_kv_heads_that_neither_divide_nor_replicate() -> None:
    arch = parse_config(
        {**repo_config("Qwen__Qwen3-8B"), "num_attention_heads": 48, "num_key_value_heads": 8}
    )
    assert refusals.heads(arch, 6) == "8 is not divisible by 6"  # distributed/utils.py ensure_divisibility


def test_max_model_len_above_the_derived_maximum() -> None:
    arch = parse_config(repo_config("Qwen__Qwen3-8B"))
    options = Options(kv=KVOptions(engine="vllm", context=65_536))
    s = resolve_settings(options, arch, derived_max_len=40_960)
    text = refusals.max_len(s, 40_960, "max_position_embeddings")
    assert text is not None and text.startswith(
        "User-specified max_model_len (65536) is greater than the derived max_model_len "
        "(max_position_embeddings=40960 or model_max_length=None in model's config.json)."
    )
    assert "VLLM_ALLOW_LONG_MAX_MODEL_LEN=1" in text


def test_block_fp8_experts_must_split_into_whole_blocks() -> None:
    """Qwen3-235B-A22B-FP8 at tp 8 without EP: 1536 / 8 = 192 is not a multiple of the 128-wide blocks."""
    arch = parse_config(repo_config("Qwen__Qwen3-235B-A22B-FP8"))
    s = resolve_settings(Options(vllm=VllmOptions(tensor_parallel_size=8)), arch, derived_max_len=None)
    assert refusals.fp8_blocks(arch, s) == (
        "The output_size of gate's and up's weight = 192 is not divisible by weight quantization block_n "
        "= 128."
    )
    ep = resolve_settings(
        Options(vllm=VllmOptions(tensor_parallel_size=8, enable_expert_parallel=True)),
        arch,
        derived_max_len=None,
    )
    assert refusals.fp8_blocks(arch, ep) is None


def test_kv_budget_messages_per_release() -> None:
    arch = parse_config(repo_config("openai__gpt-oss-20b"))
    new = resolve_settings(
        Options(kv=KVOptions(context=131_072), vllm=VllmOptions(vllm_version="0.14.1")),
        arch,
        derived_max_len=None,
    )
    text = refusals.kv_budget(new, int(2.44 * GiB), int(3.1 * GiB), 0, 100_000)
    # vllm-023's line, typo and open parenthesis included (format_gib numbers)
    assert text is not None and text.startswith(
        "To serve at least one request with the models's max seq len (131072), (3.1 GiB KV cache is "
        "needed, which "
        "is larger than the available KV cache memory (2.44 GiB). Based on the available memory, the "
        "estimated "
        "maximum model length is 100000."
    )
    assert refusals.kv_budget(new, 0, 1, 0, 0) == (
        "No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when "
        "initializing the "
        "engine. See https://docs.vllm.ai/en/latest/configuration/conserving_memory/ for more details."
    )
    old = resolve_settings(
        Options(kv=KVOptions(context=29_000), vllm=VllmOptions(vllm_version="0.6")),
        arch,
        derived_max_len=None,
    )
    assert refusals.kv_budget(old, 1, 0, 23_648, 0) == (  # vllm-002
        "The model's max seq len (29000) is larger than the maximum number of tokens that can be stored "
        "in KV cache "
        "(23648). Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when initializing "
        "the engine."
    )


def test_kv_cache_dtype_a_release_does_not_know() -> None:
    arch = parse_config(repo_config("Qwen__Qwen3-8B"))
    s = resolve_settings(
        Options(kv=KVOptions(kv_dtype="bfloat16"), vllm=VllmOptions(vllm_version="0.10.2")),
        arch,
        derived_max_len=None,
    )
    assert refusals.kv_dtype(s) == (
        "argument --kv-cache-dtype: invalid choice: 'bfloat16' (choose from 'auto', 'fp8', 'fp8_e4m3', "
        "'fp8_e5m2')"
    )
    s.era = Era.of("0.19")
    assert refusals.kv_dtype(s) is None


@pytest.mark.parametrize(
    ("n", "text"), [(int(64.38 * GiB), "64.38"), (int(48.5 * GiB) + 1, "48.5"), (int(3.1 * GiB) + 1, "3.1")]
)
def test_format_gib_drops_trailing_zeros(n: int, text: str) -> None:
    assert format_gib(n) == text  # vllm-026 '64.38', vllm-031 '48.5', vllm-023 '3.1'


@pytest.mark.parametrize(
    ("version", "line"),
    [
        ("0.6", "Loading model weights took 14.9888 GB"),  # vllm-001
        ("0.10.2", "Model loading took 14.9888 GiB and … seconds"),  # vllm-015's format
        ("0.13.0", "Model loading took 14.9888 GiB memory and … seconds"),  # vllm-016's format
        ("0.14.1", "Model loading took 14.99 GiB memory and … seconds"),  # vllm-026's format
    ],
)
def test_weights_line_per_release(version: str, line: str) -> None:
    p = Printed(16_094_076_928, 0, 0, 0, 0, 0, 0.9, 0, 0, 0.0, 0, 0, 0)
    assert weights_line(p, Era.of(version)) == line


def test_tokens_and_concurrency_in_one_line_from_0_28() -> None:
    p = Printed(1, 0, 0, 0, 0, 0, 0.9, GiB, 194_192, 4.74, 40_960, 0, 0)
    assert startup_lines(p, Era.of("0.28"), pool=True)[-1] == (
        "GPU KV cache size: 194,192 tokens, Maximum concurrency for 40,960 tokens per request: 4.74x"
    )
    assert startup_lines(p, Era.of("0.19"), pool=True)[2:4] == [
        "GPU KV cache size: 194,192 tokens",
        "Maximum concurrency for 40,960 tokens per request: 4.74x",
    ]


def test_a_kv_budget_refusal_is_the_fit_verdict() -> None:
    """Qwen3-32B on one H100 (vLLM 0.19 defaults): one request of its 40,960 tokens needs 64 layers x 8 KV
    heads x 256 x 2 B x 40,960 = 10.0 GiB of KV cache, more than the budget leaves after 61 GiB of weights."""
    report = build_report(
        fixture_snapshot("Qwen/Qwen3-32B"), Options(gpu="h100", kv=KVOptions(engine="vllm"))
    )
    assert report.engine is not None and report.engine.vllm is not None
    view, fit = report.engine.vllm, report.fit
    assert view.kv_needed_bytes == 64 * 8 * 256 * 2 * 40_960 == 10 * GiB
    assert view.refusal is not None and view.refusal.startswith(
        "To serve at least one request with the models's max seq len (40960), (10.0 GiB KV cache is needed"
    )
    assert fit is not None and not fit.fits and fit.refusal == f"vLLM would refuse: {view.refusal}"
    assert fit.max_context == view.estimated_max_model_len < 40_960
    assert f"vLLM would refuse: {view.refusal}" in report.warnings
    assert view.lines[-1].startswith("Available KV cache memory:")  # vLLM stops right after this line
