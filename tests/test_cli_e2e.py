"""The real CLI, in a subprocess, against the fake Hub over real sockets (HF_ENDPOINT), as a user runs it.

Expected figures are published ones (shared/corpus/README.md: the Hub API's parameter count and the
index's total_size of meta-llama/Llama-3.1-8B; docs/theory.md 6.1 for the KV bytes per token), or read
from the fixture's own repo.json (commit shas), never from hubmem's output.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from hubmem.errors import (
    CorruptHeaderError,
    GatedRepoError,
    InvalidRepoIdError,
    NoSafetensorsError,
    RepoNotFoundError,
    RevisionNotFoundError,
    UnauthorizedError,
)
from hubmem.fakehub.fixtures.layout import NOGATE_TOKEN, READER_TOKEN
from hubmem.fakehub.server import FakeHub

from support.cli import run_cli
from support.paths import fixture_glob, fixture_path, repo_meta

pytestmark = pytest.mark.e2e

LLAMA = "meta-llama/Llama-3.1-8B"
LLAMA_BYTES = 16_060_522_496  # index metadata.total_size (corpus README)
LLAMA_PARAMS = 8_030_261_248  # Hub API safetensors total (corpus README)
# docs/theory.md 6.1: layers x kv heads x (K+V head dims) x bf16
LLAMA_KV_PER_TOKEN = 32 * 8 * (128 + 128) * 2


def report_json(hub: FakeHub, *args: str, tmp: Path, token: str | None = READER_TOKEN) -> dict[str, Any]:
    proc = run_cli(hub, *args, "--json", token=token, tmp=tmp)
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def repo_json(repo_id: str) -> dict[str, Any]:
    return repo_meta(repo_id)


def test_llama_json_with_token_gives_the_published_figures(fake_hub: FakeHub, tmp_path: Path) -> None:
    data = report_json(fake_hub, LLAMA, tmp=tmp_path)
    assert data["weights"]["total_bytes"] == LLAMA_BYTES
    assert data["weights"]["parameters"] == LLAMA_PARAMS
    assert data["kv_cache"]["bytes_per_token"] == LLAMA_KV_PER_TOKEN
    assert data["kv_cache"]["dtype"] == "bfloat16"
    assert data["commit"] == repo_json(LLAMA)["sha"]
    arch = data["architecture"]
    assert (arch["num_layers"], arch["num_kv_heads"], arch["head_dim"]) == (32, 8, 128)
    assert data["weights"]["by_dtype"]["BF16"]["bytes"] == LLAMA_BYTES
    assert len(data["weights"]["files"]) == 4
    # the token reached the Hub origin and never the CDN origin
    assert fake_hub.log.auth_leaks() == []


def test_llama_without_token_is_a_clean_gated_error(fake_hub: FakeHub, tmp_path: Path) -> None:
    proc = run_cli(fake_hub, LLAMA, "--json", tmp=tmp_path)
    assert proc.returncode == GatedRepoError.exit_code
    assert proc.stdout == ""
    assert "gated" in proc.stderr and "token" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 4  # one error line and a hint, wrapped at most


@pytest.mark.parametrize(
    ("args", "token", "error"),
    [
        (["nobody/no-such-model"], None, RepoNotFoundError),
        (["nobody/no-such-model"], READER_TOKEN, RepoNotFoundError),
        (["hubmem-test/private"], None, RepoNotFoundError),
        (["hubmem-test/gated-auto"], NOGATE_TOKEN, GatedRepoError),
        (["openai-community/gpt2"], "hf_not_a_valid_token", UnauthorizedError),
        (["openai-community/gpt2", "--revision", "no-such-branch"], None, RevisionNotFoundError),
        (["hubmem-test/subfolder-weights"], None, NoSafetensorsError),  # no weights and no config.json
        (["hubmem-test/corrupt-header"], None, CorruptHeaderError),
        (["hubmem-test/unknown-dtype"], None, CorruptHeaderError),
        (["hubmem-test/header-too-large"], None, CorruptHeaderError),
        (["not a repo id!"], None, InvalidRepoIdError),
    ],
)
def test_every_error_kind_is_one_line_and_its_own_exit_code(
    fake_hub: FakeHub, tmp_path: Path, args: list[str], token: str | None, error: type[Exception]
) -> None:
    proc = run_cli(fake_hub, *args, token=token, tmp=tmp_path)
    assert proc.returncode == error.exit_code, proc.stderr  # type: ignore[attr-defined]
    assert f"hubmem: {error.kind}:" in proc.stderr  # type: ignore[attr-defined]
    assert "hint:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_exit_codes_are_distinct_per_kind() -> None:
    from hubmem.errors import ALL_ERRORS

    codes = [e.exit_code for e in ALL_ERRORS]
    assert len(set(codes)) == len(codes)
    assert not {0, 1} & set(codes)


def test_unknown_dtype_error_names_the_dtype(fake_hub: FakeHub, tmp_path: Path) -> None:
    header = fixture_path("repos/hubmem-test__unknown-dtype/headers/model.safetensors.json").read_bytes()
    dtypes = {v["dtype"] for k, v in json.loads(header).items() if k != "__metadata__"}
    unknown = sorted(d for d in dtypes if d not in {"F32", "BF16", "F16", "I64"})
    proc = run_cli(fake_hub, "hubmem-test/unknown-dtype", tmp=tmp_path)
    assert unknown and all(repr(d) in proc.stderr for d in unknown)


def test_header_of_exactly_99995_bytes_parses(fake_hub: FakeHub, tmp_path: Path) -> None:
    header = gzip.decompress(
        fixture_path("repos/hubmem-test__header-99995/headers/model.safetensors.json.gz").read_bytes()
    )
    assert len(header) == 99_995
    tensors = {k: v for k, v in json.loads(header).items() if k != "__metadata__"}
    expected = sum(v["data_offsets"][1] - v["data_offsets"][0] for v in tensors.values())
    data = report_json(fake_hub, "hubmem-test/header-99995", tmp=tmp_path)
    assert data["weights"]["total_bytes"] == expected
    assert data["weights"]["files"][0]["header_length"] == 99_995


def test_pr_revision_reads_the_pr_commit(fake_hub: FakeHub, tmp_path: Path) -> None:
    refs = repo_json("hubmem-test/pr-ref")["refs"]
    data = report_json(fake_hub, "hubmem-test/pr-ref", "--revision", "refs/pr/1", tmp=tmp_path)
    assert data["revision"] == "refs/pr/1"
    assert data["commit"] == refs["refs/pr/1"] != refs["main"]


def test_human_report_labels_every_section(fake_hub: FakeHub, tmp_path: Path) -> None:
    proc = run_cli(fake_hub, LLAMA, "--bytes", token=READER_TOKEN, tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Weights [exact]" in out
    assert "KV cache (transformers view) [projected]" in out
    assert "Training (full" in out and "[projected]" in out
    assert f"{LLAMA_BYTES:,}" in out and f"{LLAMA_PARAMS:,}" in out


def test_fit_and_training_flags(fake_hub: FakeHub, tmp_path: Path) -> None:
    data = report_json(fake_hub, LLAMA, "--gpu", "h100", "--gpus", "2", "--context", "32768", tmp=tmp_path)
    fit = data["fit"]
    assert (fit["gpu"], fit["gpus"], fit["mode"], fit["context"]) == ("H100-SXM", 2, "inference", 32768)
    assert fit["fits"] == (fit["required_bytes"] <= fit["usable_bytes"])
    assert [s["gpus"] for s in data["fit_scenarios"]] == [1, 2, 4, 8]
    # tensor parallel over 2 GPUs holds half the exact weight bytes per GPU
    assert fit["weights_bytes"] == LLAMA_BYTES // 2

    data = report_json(
        fake_hub, LLAMA, "--train", "full", "--zero", "3", "--gpus", "8", "--gpu", "a100-80", tmp=tmp_path
    )
    training = data["training"]
    # ZeRO paper: mixed-precision AdamW model states = 16 B/param, ZeRO-3 divides them by the GPUs
    assert training["model_states_bytes"] == 16 * LLAMA_PARAMS // 8
    assert data["fit"]["mode"] == "training"


def test_bad_option_is_a_usage_error(fake_hub: FakeHub, tmp_path: Path) -> None:
    proc = run_cli(fake_hub, LLAMA, "--kv-dtype", "int3", tmp=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_demo_runs_offline_on_the_bundled_fixtures(tmp_path: Path) -> None:
    proc = run_cli(None, "demo", "--json", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["repo_id"] == LLAMA
    assert data["weights"]["total_bytes"] == LLAMA_BYTES


def test_demo_names_the_bundled_repos_for_an_unknown_one(tmp_path: Path) -> None:
    proc = run_cli(None, "demo", "nobody/no-such-model", tmp=tmp_path)
    assert proc.returncode == RepoNotFoundError.exit_code
    bundled = [json.loads(p.read_text())["repo_id"] for p in fixture_glob("repos/*/repo.json")]
    assert "meta-llama/Llama-3.1-8B" in bundled
    assert all(r in proc.stderr.replace("\n", "") for r in bundled if not r.startswith("hubmem-test/"))
    assert "Traceback" not in proc.stderr
