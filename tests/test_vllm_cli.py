"""The vLLM start-up view and vLLM-accounted fits through the real CLI against the fake Hub, and the service's
query parameters for them.

Expected figures: vLLM's own refusal text (config/model.py), the published BF16 element count of Qwen3-8B
(fixtures/README.md: 8,190,735,360) and its config (36 layers x 8 KV heads x 128, 32 heads, 40,960 positions),
the CUDA total torch prints for an H100 80GB HBM3 (81,090 MiB).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_cli_e2e import run_cli

from hubmem.errors import BadOptionError
from hubmem.fakehub.server import FakeHub
from hubmem.service.params import QUERY_PARAMS, parse_options

pytestmark = pytest.mark.e2e

QWEN = "Qwen/Qwen3-8B"
REFUSAL = "Total number of attention heads (32) must be divisible by tensor parallel size (3)."
QWEN_BF16_ELEMENTS = 8_190_735_360  # fixtures/README.md: published BF16 element count
QWEN_KV_PER_TOKEN = 36 * 8 * (128 + 128) * 2  # bytes per token over all layers, bf16


def report(hub: FakeHub, tmp: Path, *args: str) -> dict[str, Any]:
    proc = run_cli(hub, QWEN, "--gpu", "h100", *args, "--json", tmp=tmp)
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def test_tp_3_on_a_32_head_model_says_vllm_would_refuse(fake_hub: FakeHub, tmp_path: Path) -> None:
    proc = run_cli(fake_hub, QWEN, "--gpu", "h100", "-tp", "3", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = " ".join(proc.stdout.split())
    assert f"vLLM would refuse: {REFUSAL}" in out
    assert "Fit on 3 x H100-SXM" in out
    data = report(fake_hub, tmp_path, "-tp", "3")
    assert data["fit"]["refusal"] == f"vLLM would refuse: {REFUSAL}" and data["fit"]["fits"] is False
    assert f"vLLM would refuse: {REFUSAL}" in data["warnings"]
    assert [s["gpus"] for s in data["fit_scenarios"]] == [1, 2, 3, 4, 8]
    assert [s["refusal"] is not None for s in data["fit_scenarios"]] == [False, False, True, False, False]


def test_tp_3_with_the_vllm_engine(fake_hub: FakeHub, tmp_path: Path) -> None:
    data = report(fake_hub, tmp_path, "-tp", "3", "--engine", "vllm")
    view = data["engine"]["vllm"]
    assert view["refusal"] == REFUSAL and view["lines"] == []  # refused before loading: nothing printed
    assert data["fit"]["engine"] == "vllm" and not data["fit"]["fits"]
    assert data["fit"]["refusal"] == f"vLLM would refuse: {REFUSAL}"


def test_engine_view_fields_and_lines(fake_hub: FakeHub, tmp_path: Path) -> None:
    kv_bytes = int(19.28 * 2**30)
    data = report(fake_hub, tmp_path, "--engine", "vllm", "--kv-cache-memory", "19.28GiB")
    view = data["engine"]["vllm"]
    weights = QWEN_BF16_ELEMENTS * 2 + 40_960 * 128 * 2  # tensors + the rope cos_sin_cache buffer
    assert view["model_loading_bytes"] == weights
    assert view["cuda_total_bytes"] == 81_090 * 2**20 and view["vendor_bytes"] == 80 * 10**9
    assert view["requested_bytes"] == int(81_090 * 2**20 * 0.9)
    assert view["available_kv_cache_bytes"] == kv_bytes
    blocks = kv_bytes // (16 * QWEN_KV_PER_TOKEN)
    assert view["kv_cache_tokens"] == blocks * 16  # default 0.19: whole blocks
    assert view["max_concurrency"] == pytest.approx(blocks / (40_960 // 16), abs=1e-4)
    assert view["page_bytes_per_token"] == QWEN_KV_PER_TOKEN
    assert [(g["layers"], g["block_size"]) for g in view["groups"]] == [(36, 16)]
    assert view["lines"][:2] == [
        "Model loading took 15.27 GiB memory and … seconds",
        "Available KV cache memory: 19.28 GiB",
    ]
    assert view["lines"][2] == f"GPU KV cache size: {blocks * 16:,} tokens"
    assert {item["name"] for item in view["budget"]} >= {
        "requested",
        "weights",
        "activation peak",
        "non-torch memory",
    }
    assert all(item["source"] for item in view["budget"])
    proc = run_cli(fake_hub, QWEN, "--gpu", "h100", "--engine", "vllm", tmp=tmp_path)
    assert proc.returncode == 0 and "vLLM start-up, per GPU rank" in proc.stdout
    assert "Model loading took 15.27 GiB memory" in proc.stdout


def test_refused_rows_are_marked_in_the_scenario_table(fake_hub: FakeHub, tmp_path: Path) -> None:
    """gemma-3-1b-it has 4 attention heads: 8 GPUs cannot split them."""
    proc = run_cli(fake_hub, "google/gemma-3-1b-it", "--gpu", "l4", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    row8 = next(line for line in proc.stdout.splitlines() if line.strip().startswith("8 "))
    assert "vLLM refuses" in row8
    data = json.loads(run_cli(fake_hub, "google/gemma-3-1b-it", "--gpu", "l4", "--json", tmp=tmp_path).stdout)
    refused = {s["gpus"]: s["refusal"] for s in data["fit_scenarios"]}
    heads = "Total number of attention heads (4) must be divisible by tensor parallel size (8)."
    assert refused[8] == f"vLLM would refuse: {heads}"
    assert refused[1] is refused[2] is refused[4] is None


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["--gpu-memory-utilization", "90"], "a fraction, e.g. 0.9"),
        (["--kv-cache-memory", "19 GiBs"], "19.28GiB"),
        (["--gpus", "4", "-tp", "2"], "-tp/-pp"),
        (["--vllm-version", "1.0", "--engine", "vllm"], "0.10.2"),
    ],
)
def test_bad_values_are_one_line_with_a_hint(
    fake_hub: FakeHub, tmp_path: Path, args: list[str], hint: str
) -> None:
    proc = run_cli(fake_hub, QWEN, "--gpu", "h100", *args, tmp=tmp_path)
    assert proc.returncode == BadOptionError.exit_code
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("hubmem: bad_option:") and "Traceback" not in proc.stderr
    assert hint in " ".join(lines[1:])


@pytest.mark.parametrize("gpu", ["48GiB", "NVIDIA H100 80GB HBM3"])
def test_ad_hoc_and_device_names_for_gpu(fake_hub: FakeHub, tmp_path: Path, gpu: str) -> None:
    proc = run_cli(fake_hub, QWEN, "--gpu", gpu, "--engine", "vllm", "--json", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    view = json.loads(proc.stdout)["engine"]["vllm"]
    assert view["cuda_total_bytes"] == (48 * 2**30 if gpu == "48GiB" else 81_090 * 2**20)


def test_service_query_parameters_for_the_vllm_view() -> None:
    for name in ("tensor_parallel_size", "pipeline_parallel_size", "max_num_seqs", "kv_cache_memory_bytes",
                 "enforce_eager", "vllm_version", "enable_expert_parallel"):  # fmt: skip
        assert QUERY_PARAMS[name].section == "vllm"
    options = parse_options({"engine": ["vllm"], "tensor_parallel_size": ["3"], "context": ["4096"]})
    assert options.vllm.tensor_parallel_size == 3 and options.kv.context == 4096
