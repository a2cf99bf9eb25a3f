"""The KV pool vLLM sizes from its available memory: pages, groups, blocks, tokens, concurrency.

Expected figures are the lines real vLLM printed (shared/engine-logs/vllm.json, quoted per row) or integers
worked from vLLM's rules (kv_cache_utils.py, kv_cache_interface.py; research note SPEC.md section 2) from
the models' own config.json. The available memory is given (``--kv-cache-memory``), as in the logs.
"""

from __future__ import annotations

from typing import Any

import pytest

from hubmem.estimate.engines.vllm.era import Era
from hubmem.estimate.engines.vllm.groups import group_size_of
from hubmem.estimate.engines.vllm.startup import project_startup
from hubmem.parse.config import parse_config
from hubmem.schema.engines import VllmOptions, VllmView
from hubmem.schema.kv import KVOptions
from hubmem.schema.options import Options
from scripts.validate.vllm_inputs import checkpoint_tensors, config_snapshot, tensors_of

from support.paths import fixture_path, load_json
from support.theory_configs import theory_config

GiB = 1 << 30


def qwen3_14b() -> dict[str, Any]:
    data: dict[str, Any] = dict(load_json(fixture_path("vllm", "configs", "Qwen__Qwen3-14B.json")))
    data.pop("_source")
    return data


def qwen3_next() -> dict[str, Any]:
    return {**theory_config("Qwen3-Next-80B-A3B"), "partial_rotary_factor": 0.25}


def view(config: dict[str, Any], kv_bytes: int, version: str, *, kv: dict[str, Any], **vllm: Any) -> VllmView:
    snap = config_snapshot(config, "test/model")
    tensors = tensors_of(snap)
    arch = parse_config(config, tensors=tensors)
    options = Options(
        gpu="h100",
        kv=KVOptions(engine="vllm", **kv),
        vllm=VllmOptions(vllm_version=version, kv_cache_memory_bytes=kv_bytes, **vllm),
    )
    return project_startup(tensors, arch, options).view


def test_qwen3_next_hybrid_pool_reproduces_vllm_015() -> None:
    """vllm-015 (0.10.2, tp 2, bf16): 'Current kv cache memory in use is 47878721024 bytes', 'GPU KV cache
    size: 973,760 tokens', 'Maximum concurrency for 262,144 tokens per request: 14.77x',
    'num_gpu_blocks is: 7162'."""
    v = view(qwen3_next(), 47_878_721_024, "0.10.2", kv={"context": 262_144}, tensor_parallel_size=2)
    gdn_page = 3 * (2 * 16 * 128 + 32 * 128) // 2 * 2 + 16 * 128 * 128 * 2  # per rank: 548,864 B
    block = 16 * -(-gdn_page // (16 * 1024))  # attention page per token per rank: 1 KV head x 512 x 2 B
    assert (gdn_page, block) == (548_864, 544)
    assert [(g.layers, g.block_size if g.kind == "full" else block) for g in v.groups] == [(12, 544)] * 4
    assert v.num_blocks == 47_878_721_024 // (block * 1024 * 12) == 7162
    assert v.kv_cache_tokens == 973_760
    assert f"{v.max_concurrency:.2f}" == "14.77"
    assert "GPU KV cache size: 973,760 tokens" in v.lines


def test_qwen3_next_fp8_kv_enlarges_the_block_to_1072_as_vllm_016() -> None:
    """vllm-016 (0.13.0, fp8 KV, tp 2): 'Setting attention block size to 1072 tokens', 767,552 tokens at
    17.58 GiB,
    84.29x for 32,768 tokens."""
    low, high = (view(qwen3_next(), int(g * GiB), "0.13.0", kv={"context": 32_768, "kv_dtype": "fp8"},
                      tensor_parallel_size=2) for g in (17.575, 17.585))  # fmt: skip
    assert {g.block_size for g in low.groups if g.kind == "full"} == {1072}
    assert low.kv_cache_tokens <= 767_552 <= high.kv_cache_tokens
    assert round(low.max_concurrency, 2) <= 84.29 <= round(high.max_concurrency, 2)


@pytest.mark.parametrize(
    ("rid", "version", "gib", "vllm", "context", "tokens", "concurrency"),
    [
        ("vllm-004", "0.10.2", 6.51, {}, 32_768, 42_656, 1.30),
        ("vllm-006", "0.28", 29.63, {}, 40_960, 194_192, 4.74),
        ("vllm-009", "0.28", 14.38, {"tensor_parallel_size": 2}, 40_960, 188_512, 4.60),
        ("vllm-010", "0.28", 14.04, {"pipeline_parallel_size": 2}, 40_960, 184_000, 4.49),
    ],
)
def test_qwen3_14b_pools_as_logged(
    rid: str, version: str, gib: float, vllm: dict[str, Any], context: int, tokens: int, concurrency: float
) -> None:
    """Qwen3-14B (40 layers, 8 KV heads x 128): the logged tokens and concurrency lie inside what the printed
    two decimals of 'Available KV cache memory' allow; tp 2 halves the KV heads, pp 2 the layers per rank."""
    views = [
        view(qwen3_14b(), int((gib + d) * GiB), version, kv={"context": context}, **vllm)
        for d in (-0.005, 0.005)
    ]
    assert views[0].kv_cache_tokens <= tokens <= views[1].kv_cache_tokens, rid
    assert round(views[0].max_concurrency, 2) <= concurrency <= round(views[1].max_concurrency, 2), rid


def test_tokens_are_whole_blocks_up_to_0_19_and_concurrency_times_length_after() -> None:
    """0.10.2 prints num_blocks x block; from 0.21 int(concurrency x max_model_len) (kv_cache_utils.py)."""
    kv_bytes = (
        3000 * 40 * 16 * 8 * 256 * 2 + 12345
    )  # 3000 blocks of 40 layers x 16 tokens x 8 KV heads x 256 x 2 B
    old = view(qwen3_14b(), kv_bytes, "0.19", kv={"context": 10_000})
    new = view(qwen3_14b(), kv_bytes, "0.22", kv={"context": 10_000})
    assert old.num_blocks == new.num_blocks == 3000
    assert old.kv_cache_tokens == 3000 * 16
    per_request = -(-10_000 // 16)  # 625 blocks
    assert new.kv_cache_tokens == int(3000 / per_request * 10_000) == 48_000
    assert old.max_concurrency == pytest.approx(3000 / 625)


def test_v0_concurrency_is_tokens_over_length() -> None:
    """vllm-001 (V0): 1952 blocks of 16 tokens, 'Maximum concurrency for 20000 tokens per request: 1.56x'."""
    llama = load_json(fixture_path("repos", "meta-llama__Llama-3.1-8B", "files", "config.json"))
    page = 16 * 8 * 256 * 2
    v = view(llama, 1952 * 32 * page, "0.6", kv={"context": 20_000})
    assert v.num_blocks == 1952 and v.kv_cache_tokens == 31_232
    assert "Maximum concurrency for 20000 tokens per request: 1.56x" in v.lines
    assert "# GPU blocks: 1952, # CPU blocks: 2048" in v.lines  # swap space 4 GiB / 2 MiB blocks


@pytest.mark.parametrize(
    ("counts", "threshold", "size"),
    [
        ([12, 12], 1.5, 12),
        ([12, 13], 1.5, 13),
        ([12, 13], None, 12),
        ([12, 16], 1.25, 12),
        ([12, 16], 1.5, 16),
    ],
)
def test_group_size_rule(counts: list[int], threshold: float | None, size: int) -> None:
    """gpt-oss-20b + EAGLE (12 sliding + 13 full) pads to 13 + 13 on current main, not 12 + 24."""
    assert group_size_of(counts, threshold) == size


def test_group_size_threshold_per_release() -> None:
    assert [Era.of(v).group_size_threshold() for v in ("0.10.2", "0.14.1", "0.19", "0.22")] == [
        None,
        1.25,
        1.25,
        1.5,
    ]


def test_generated_checkpoint_matches_the_real_headers_for_llama() -> None:
    """The validation's config-only models use a generated tensor list; it must equal the real layout where
    the
    repo has the headers (Llama-3.1-8B index total_size 16,060,522,496 B)."""
    llama = load_json(fixture_path("repos", "meta-llama__Llama-3.1-8B", "files", "config.json"))
    sizes = {"BF16": 2}
    total = 0
    for _, dtype, shape in checkpoint_tensors(llama):
        n = sizes[dtype]
        for d in shape:
            n *= d
        total += n
    assert total == 16_060_522_496
