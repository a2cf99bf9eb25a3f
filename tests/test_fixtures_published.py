"""The fixture headers reproduce independently published figures, summed here from the headers themselves.

Every expected number below is a published one (corpus README, the real index files in fixtures, Hub API
``safetensors.parameters`` values and real file sizes quoted in public material; sources in each repo.json
``provenance.checks``). Nothing is computed by hubmem or by the fixture builder.
"""

from __future__ import annotations

import gzip
import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from support.paths import committed, repo_config, repo_dir, repo_meta


@cache
def repo(repo_id: str) -> dict[str, Any]:
    return repo_meta(repo_id)


@cache
def header(repo_id: str, path: str) -> bytes:
    base = repo_dir(repo_id) / "headers" / path
    plain, gz = Path(f"{base}.json"), Path(f"{base}.json.gz")
    return plain.read_bytes() if plain.is_file() else gzip.decompress(committed(gz).read_bytes())


@cache
def tensors(repo_id: str) -> list[tuple[str, str, int, int, str]]:
    """(name, dtype, numel, nbytes, file) over every safetensors file of the repo."""
    out = []
    for path in repo(repo_id)["files"]:
        if path.endswith(".safetensors"):
            obj = json.loads(header(repo_id, path))
            for name, info in obj.items():
                if name != "__metadata__":
                    b, e = info["data_offsets"]
                    out.append((name, info["dtype"], math.prod(info["shape"]), e - b, path))
    return out


def data_bytes(repo_id: str) -> int:
    return sum(t[3] for t in tensors(repo_id))


def numel(repo_id: str, dtype: str | None = None) -> int:
    return sum(t[2] for t in tensors(repo_id) if dtype is None or t[1] == dtype)


def file_size(repo_id: str, path: str) -> int:
    size: int = repo(repo_id)["files"][path]["size"]
    # the served size must be what the header implies
    obj = json.loads(header(repo_id, path))
    data = sum(v["data_offsets"][1] - v["data_offsets"][0] for k, v in obj.items() if k != "__metadata__")
    assert size == 8 + len(header(repo_id, path)) + data
    return size


def real_index(repo_id: str) -> dict[str, Any]:
    return repo_config(repo_id, "model.safetensors.index.json")


# ---- exact published integers ------------------------------------------------------------------------


def test_llama_3_1_8b_bytes_params_and_shard_sizes() -> None:
    r = "meta-llama/Llama-3.1-8B"
    assert data_bytes(r) == 16_060_522_496  # index total_size (corpus README)
    assert numel(r) == 8_030_261_248  # Hub API parameters
    assert [file_size(r, f"model-0000{i}-of-00004.safetensors") for i in range(1, 5)] == [
        4_976_698_672,
        4_999_802_720,
        4_915_916_176,
        1_168_138_808,
    ]  # real shard sizes (public manifests pinning this repo)
    assert len(header(r, "model-00001-of-00004.safetensors")) == 0x2528  # first 8 bytes "28 25 00 .." = 9,512
    assert repo(r)["gated"] == "manual"


def test_devstral_matches_its_real_index() -> None:
    r = "mistralai/Devstral-Small-2507"
    index = real_index(r)
    assert data_bytes(r) == index["metadata"]["total_size"] == 47_144_806_400
    assert numel(r) == index["metadata"]["total_parameters"] == 23_572_403_200
    assert {t[0]: t[4] for t in tensors(r)} == index["weight_map"]


def test_falcon_180b_matches_its_real_index() -> None:
    r = "tiiuae/falcon-180B-chat"
    index = real_index(r)
    assert data_bytes(r) == index["metadata"]["total_size"] == 359_045_130_240
    assert {t[0]: t[4] for t in tensors(r)} == index["weight_map"]
    assert len(set(index["weight_map"].values())) == 81


def test_qwen3_30b_a3b_total_file_bytes() -> None:
    r = "Qwen/Qwen3-30B-A3B"
    st = [p for p in repo(r)["files"] if p.endswith(".safetensors")]
    assert len(st) == 16
    assert sum(file_size(r, p) for p in st) == 61_066_575_648  # corpus README (16 shards)
    assert data_bytes(r) == 61_064_245_248  # the real index total_size, as quoted publicly


def test_gpt_oss_20b_hub_totals_and_real_index() -> None:
    r = "openai/gpt-oss-20b"
    assert numel(r, "BF16") == 1_804_459_584  # Hub safetensors.parameters BF16 (corpus README)
    # the Hub's U8 figure counts MXFP4 blocks twice (two 4-bit values per byte) and scales once
    hub_u8 = sum(t[2] * (2 if t[0].endswith("_blocks") else 1) for t in tensors(r) if t[1] == "U8")
    assert hub_u8 == 19_707_494_400
    index = real_index(r)
    assert data_bytes(r) == index["metadata"]["total_size"] == 13_761_264_768
    assert {t[0]: t[4] for t in tensors(r)} == index["weight_map"]


def test_deepseek_v3_and_r1_hub_dtype_totals() -> None:
    for r in ("deepseek-ai/DeepSeek-V3", "deepseek-ai/DeepSeek-R1"):
        # Hub API safetensors.parameters: BF16 3,918,786,560 + F8_E4M3 680,571,043,840 + F32 41,555,600
        assert numel(r, "BF16") == 3_918_786_560
        assert numel(r, "F8_E4M3") == 680_571_043_840
        assert numel(r, "F32") == 41_555_600
        assert numel(r) == 684_531_386_000
        assert len([p for p in repo(r)["files"] if p.endswith(".safetensors")]) == 163


@pytest.mark.parametrize(
    ("repo_id", "dtype", "published"),
    [
        ("Qwen/Qwen3-8B", "BF16", 8_190_735_360),
        ("Qwen/Qwen3-32B", "BF16", 32_762_123_264),
        ("Qwen/Qwen3-0.6B", "BF16", 751_632_384),
        ("Qwen/Qwen2-7B-Instruct", "BF16", 7_615_616_512),  # docs/theory.md 6.3 / huggingface_hub #4221
        ("microsoft/phi-4", "BF16", 14_659_507_200),
        ("microsoft/Phi-3.5-mini-instruct", "BF16", 3_821_079_552),
        ("google/gemma-2-9b", "BF16", 9_241_705_984),
        ("mistralai/Mixtral-8x22B-v0.1", "BF16", 140_620_634_112),
        ("google-bert/bert-base-uncased", "F32", 110_106_428),  # docs/hub-protocol.md 1.7
        ("mistralai/Mistral-7B-v0.1", "BF16", 7_241_732_096),  # docs/theory.md 6.2
    ],
)
def test_hub_parameter_counts(repo_id: str, dtype: str, published: int) -> None:
    assert numel(repo_id, dtype) == numel(repo_id) == published


@pytest.mark.parametrize(
    ("repo_id", "path", "published"),
    [
        ("meta-llama/Llama-3.2-1B", "model.safetensors", 2_471_645_608),
        ("google/gemma-3-1b-it", "model.safetensors", 1_999_811_208),
        ("openai-community/gpt2", "model.safetensors", 548_105_171),
        ("google-bert/bert-base-uncased", "model.safetensors", 440_449_768),
        ("Qwen/Qwen3-0.6B", "model.safetensors", 1_503_300_328),
        ("mistralai/Mistral-7B-v0.1", "model-00001-of-00002.safetensors", 9_942_981_696),
        ("mistralai/Mistral-7B-v0.1", "model-00002-of-00002.safetensors", 4_540_516_344),
        ("sentence-transformers/all-MiniLM-L6-v2", "model.safetensors", 90_868_376),
    ],
)
def test_real_file_sizes(repo_id: str, path: str, published: int) -> None:
    assert file_size(repo_id, path) == published


def test_gpt2_header_length_and_tensor_count() -> None:
    raw = header("openai-community/gpt2", "model.safetensors")
    assert len(raw) == 14_283  # observed N of the real file, unpadded
    assert len(tensors("openai-community/gpt2")) == 160
    assert {t[1] for t in tensors("openai-community/gpt2")} == {"F32"}


def test_minilm_header_is_the_real_one() -> None:
    r = "sentence-transformers/all-MiniLM-L6-v2"
    assert len(header(r, "model.safetensors")) == 11_408
    assert numel(r) == 22_713_728


# ---- rounded published figures ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("repo_id", "published_billions", "digits", "logical"),
    [
        ("Qwen/Qwen3-30B-A3B", "30.5", 1, False),
        ("mistralai/Mixtral-8x7B-v0.1", "46.7", 1, False),
        ("meta-llama/Llama-3.2-1B", "1.24", 2, False),
        ("Qwen/Qwen3-VL-8B-Instruct", "8.77", 2, False),
        ("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", "31.6", 1, False),
        ("nvidia/Llama-3.1-70B-Instruct-FP8", "70.6", 1, True),
        ("Qwen/Qwen3-235B-A22B-FP8", "235", 0, True),
    ],
)
def test_rounded_parameter_counts(repo_id: str, published_billions: str, digits: int, logical: bool) -> None:
    # logical: leave out FP8 scale tensors (scalars, weight_scale_inv), as model cards do
    n = sum(
        t[2]
        for t in tensors(repo_id)
        if not logical or not (t[0].endswith(("_scale", "_scale_inv", "k_scale", "v_scale")))
    )
    assert f"{n / 1e9:.{digits}f}" == published_billions


def test_qwen3_30b_fp8_has_the_bf16_models_parameters() -> None:
    fp8 = [t for t in tensors("Qwen/Qwen3-30B-A3B-FP8") if not t[0].endswith("weight_scale_inv")]
    assert sum(t[2] for t in fp8) == 61_064_245_248 // 2  # Qwen3-30B-A3B's index total_size / 2 bytes
    scales = {
        t[0][: -len(".weight_scale_inv")] for t in tensors("Qwen/Qwen3-30B-A3B-FP8") if t[0].endswith("_inv")
    }
    assert scales == {t[0][: -len(".weight")] for t in fp8 if t[1] == "F8_E4M3"}


def test_llama2_13b_gptq_size_and_layout() -> None:
    r = "TheBloke/Llama-2-13B-chat-GPTQ"
    assert f"{file_size(r, 'model.safetensors') / 1e9:.2f}" == "7.26"  # TheBloke README, main branch
    names = {t[0] for t in tensors(r)}
    q = "model.layers.0.self_attn.q_proj."
    assert {q + s for s in ("qweight", "qzeros", "scales", "g_idx")} <= names


def test_gated_repos() -> None:
    assert repo("meta-llama/Llama-3.2-1B")["gated"] == "manual"
    assert repo("meta-llama/Llama-3.1-8B")["gated"] == "manual"
