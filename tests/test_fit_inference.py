"""Inference fit verdicts and the max-context / max-batch / min-GPU solvers at their exact boundaries.

The KV function is written here from docs/theory.md 2.1 (per token = layers x KV heads x (hd + hd_v) x 2 B,
heads per GPU ``max(1, nkv // tp)``) over the real Llama-3.1-8B / Mistral-7B configs; weights are the
published index total_size. GPU capacities are the vendor figures the catalog cites.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hubmem.errors import ConfigError
from hubmem.estimate.fit.gpus import find_gpu, load_catalog
from hubmem.estimate.fit.verdict import fit_inference, largest_true
from hubmem.estimate.kv.per_rank import arch_for_tp
from hubmem.schema.architecture import Architecture
from hubmem.schema.fit import FitOptions

from support.paths import repo_config

LLAMA_WEIGHTS = 16_060_522_496  # meta-llama/Llama-3.1-8B index metadata.total_size (corpus README)


def arch_of(repo: str) -> Architecture:
    cfg = repo_config(repo)
    h, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    return Architecture(
        num_layers=cfg["num_hidden_layers"],
        hidden_size=h,
        num_attention_heads=nh,
        num_kv_heads=cfg["num_key_value_heads"],
        head_dim=h // nh,
        intermediate_size=cfg["intermediate_size"],
        vocab_size=cfg["vocab_size"],
        max_context=cfg["max_position_embeddings"],
        sliding_window=cfg.get("sliding_window"),
    )


LLAMA = arch_of("meta-llama__Llama-3.1-8B")
MISTRAL = arch_of("mistralai__Mistral-7B-v0.1")


def kv_of(arch: Architecture, *, window: int | None = None):  # type: ignore[no-untyped-def]
    def kv_bytes(context: int, batch: int, tp: int) -> int:
        a = arch_for_tp(arch, tp)
        assert a.num_layers and a.num_kv_heads and a.head_dim
        per_token = a.num_layers * a.num_kv_heads * 2 * a.head_dim * 2
        held = min(context, window) if window else context
        return per_token * held * batch

    return kv_bytes


KV = kv_of(LLAMA)
# no workspace and a round reserve: the arithmetic below stays readable
OPTS = {
    "gpu": "H100-SXM",
    "workspace_bytes": 0,
    "reserve_bytes": 2 * 10**9,
    "utilization": 0.9,
    "memory_basis": "vendor",
}
USABLE = int(80 * 10**9 * 0.9) - 2 * 10**9  # 70e9: H100 SXM "80 GB" (vendor) x 0.9 - reserve


def test_theory_kv_anchor() -> None:
    assert KV(8192, 1, 1) == 1_073_741_824  # theory 6.1
    assert KV(131_072, 1, 1) == 17_179_869_184


def test_verdict_and_breakdown() -> None:
    r = fit_inference(LLAMA_WEIGHTS, LLAMA, FitOptions(context=8192, batch=1, **OPTS), kv_bytes=KV)
    assert r.memory_per_gpu_bytes == 80 * 10**9
    assert r.usable_bytes == USABLE
    assert r.weights_bytes == LLAMA_WEIGHTS and r.kv_bytes == 1_073_741_824
    assert r.required_bytes == LLAMA_WEIGHTS + 1_073_741_824
    assert r.fits and r.headroom_bytes == USABLE - r.required_bytes
    assert sum(i.bytes for i in r.breakdown) == r.required_bytes
    assert r.assumptions


def test_max_context_boundary() -> None:
    batch = 8
    r = fit_inference(LLAMA_WEIGHTS, LLAMA, FitOptions(context=8192, batch=batch, **OPTS), kv_bytes=KV)
    t = r.max_context
    assert t is not None and not r.max_context_capped
    assert t == (USABLE - LLAMA_WEIGHTS) // (131_072 * batch)
    at = fit_inference(LLAMA_WEIGHTS, LLAMA, FitOptions(context=t, batch=batch, **OPTS), kv_bytes=KV)
    over = fit_inference(LLAMA_WEIGHTS, LLAMA, FitOptions(context=t + 1, batch=batch, **OPTS), kv_bytes=KV)
    assert at.fits and not over.fits  # one token more does not fit


def test_max_context_is_capped_at_the_model_maximum() -> None:
    r = fit_inference(LLAMA_WEIGHTS, LLAMA, FitOptions(batch=1, **OPTS), kv_bytes=KV)
    assert r.max_context == LLAMA.max_context == 131_072 and r.max_context_capped


def test_max_batch_boundary() -> None:
    r = fit_inference(LLAMA_WEIGHTS, LLAMA, FitOptions(context=32_768, batch=1, **OPTS), kv_bytes=KV)
    n = r.max_batch
    assert n == (USABLE - LLAMA_WEIGHTS) // (131_072 * 32_768)
    assert n is not None
    ok = fit_inference(LLAMA_WEIGHTS, LLAMA, FitOptions(context=32_768, batch=n, **OPTS), kv_bytes=KV)
    more = fit_inference(LLAMA_WEIGHTS, LLAMA, FitOptions(context=32_768, batch=n + 1, **OPTS), kv_bytes=KV)
    assert ok.fits and not more.fits  # one more sequence does not fit


def test_sliding_window_makes_kv_flat_so_context_is_capped() -> None:
    # Mistral-7B-v0.1: every layer slides over 4096 tokens: KV stops growing, any context up to the cap fits
    kv = kv_of(MISTRAL, window=4096)
    # weights: any ~7B bf16 checkpoint well inside the budget
    r = fit_inference(15 * 10**9, MISTRAL, FitOptions(batch=64, **OPTS), kv_bytes=kv)
    assert r.max_context == MISTRAL.max_context and r.max_context_capped


def test_non_linear_kv_boundary() -> None:
    # half the layers full, half sliding (window 1024): kv(T) = a*T + c*min(T, 1024), a binary-searched kink
    full, slide = kv_of(LLAMA), kv_of(LLAMA, window=1024)

    def kv(context: int, batch: int, tp: int) -> int:
        return (full(context, batch, tp) + slide(context, batch, tp)) // 2

    budget = USABLE - LLAMA_WEIGHTS
    per_token_half = 131_072 // 2
    batch = 16
    expected = (budget - per_token_half * 1024 * batch) // (per_token_half * batch)
    r = fit_inference(LLAMA_WEIGHTS, LLAMA, FitOptions(context=2048, batch=batch, **OPTS), kv_bytes=kv)
    assert r.max_context == expected
    assert kv(expected, batch, 1) <= budget < kv(expected + 1, batch, 1)


def test_min_gpus_and_kv_head_replication() -> None:
    # L4 "24 GB": one GPU cannot hold 16.06 GB of weights + 16 GiB of KV at 131,072 tokens; two can
    opts = {**OPTS, "gpu": "L4"}
    one = fit_inference(LLAMA_WEIGHTS, LLAMA, FitOptions(context=131_072, **opts), kv_bytes=KV)
    assert not one.fits and one.min_gpus == 2 and one.candidates == [1, 2, 4, 8]
    two = fit_inference(LLAMA_WEIGHTS, LLAMA, FitOptions(context=131_072, gpus=2, **opts), kv_bytes=KV)
    assert two.fits and two.weights_bytes == LLAMA_WEIGHTS // 2 and two.kv_bytes == 17_179_869_184 // 2
    # tp = 16 > nkv = 8: each GPU still holds one whole KV head, the same KV as tp = 8
    t8 = fit_inference(LLAMA_WEIGHTS, LLAMA, FitOptions(context=8192, gpus=8, **OPTS), kv_bytes=KV)
    t16 = fit_inference(LLAMA_WEIGHTS, LLAMA, FitOptions(context=8192, gpus=16, **OPTS), kv_bytes=KV)
    assert arch_for_tp(LLAMA, 16).num_kv_heads == 1
    assert t16.kv_bytes == t8.kv_bytes == 32 * 1 * 256 * 2 * 8192
    assert t16.weights_bytes == LLAMA_WEIGHTS // 16


def test_any_gpu_count_respects_head_divisibility() -> None:
    r = fit_inference(
        LLAMA_WEIGHTS, LLAMA, FitOptions(context=8192, gpu_counts="any", max_gpus=8, **OPTS), kv_bytes=KV
    )
    assert r.candidates == [1, 2, 4, 8]  # 32 query heads, 8 KV heads: 3, 5, 6, 7 refused (vLLM rule)


def test_nothing_fits_reports_zero() -> None:
    r = fit_inference(10**12, LLAMA, FitOptions(**OPTS), kv_bytes=KV)
    assert not r.fits and r.max_context == 0 and r.max_batch == 0 and r.min_gpus is None


def test_default_workspace_and_reserve_are_counted() -> None:
    r = fit_inference(LLAMA_WEIGHTS, LLAMA, FitOptions(context=8192), kv_bytes=KV)
    assert r.reserve_bytes == 3 * 2**29 and r.utilization == 0.9
    assert r.workspace_bytes >= 256 * 128_256 * 4  # at least the fp32 sampler logits of 256 sequences
    assert r.required_bytes == r.weights_bytes + r.kv_bytes + r.workspace_bytes


def test_largest_true_edges() -> None:
    assert largest_true(lambda x: x <= 37, 1, 100) == 37
    assert largest_true(lambda x: x <= 1000, 1, 100) == 100
    assert largest_true(lambda x: False, 1, 100) == 0


# ------------------------------------------------------------------------------------------ catalog


def test_catalog_vendor_and_cuda_reported_capacities() -> None:
    h100 = find_gpu("h100")
    assert h100.name == "H100-SXM" and h100.memory_bytes == 80_000_000_000
    # CUDA's total: torch prints total_memory=81090MB (MiB) for H100 80GB HBM3; vLLM 0.10.2 prints 79.19 GiB
    assert h100.reported_bytes == 81_090 * 2**20
    assert round(h100.reported_bytes / 2**30, 2) == 79.19
    assert h100.nvidia_smi_mib == 81_559  # nvidia-smi's memory.total (Modal PR #2797): a different number
    assert find_gpu("A100 80GB").memory_bytes == 80 * 10**9
    assert find_gpu("mi300x").memory_bytes == 192 * 10**9
    opts = {**OPTS, "memory_basis": "reported"}
    r = fit_inference(LLAMA_WEIGHTS, LLAMA, FitOptions(context=8192, **opts), kv_bytes=KV)
    assert r.memory_per_gpu_bytes == 81_090 * 2**20
    assert FitOptions().memory_basis == "reported"  # what CUDA reports is the default basis


@pytest.mark.parametrize(
    ("name", "catalog_name"),
    [
        ("NVIDIA H100 80GB HBM3", "H100-SXM"),  # nvidia-smi / torch device names
        ("Tesla T4", "T4"),
        ("NVIDIA GeForce RTX 4090", "RTX-4090"),
        ("NVIDIA RTX 6000 Ada Generation", "RTX-6000-Ada"),
        ("AMD Instinct MI300X", "MI300X"),
        ("NVIDIA H100 PCIe", "H100-PCIe"),
    ],
)
def test_device_names_find_their_catalog_entry(name: str, catalog_name: str) -> None:
    assert find_gpu(name).name == catalog_name


def test_ad_hoc_sizes_are_the_cuda_total() -> None:
    assert find_gpu("48GiB").reported_bytes == 48 * 2**30
    assert find_gpu("80GB").reported_bytes == 80 * 10**9
    assert find_gpu("24G").reported_bytes == 24 * 2**30


@pytest.mark.parametrize(
    "name",
    ["RTX 5090", "RTX A6000", "RTX 6000 Ada", "RTX PRO 6000 96GB", "L40", "V100 16GB", "V100 32GB", "H20",
     "GH200", "B300", "MI355X"],
)  # fmt: skip
def test_the_cards_users_ask_for_are_in_the_catalog_with_a_source(name: str) -> None:
    spec = find_gpu(name)
    assert spec.source and spec.memory_gb > 0
    assert spec.reported_bytes is None or spec.reported_source


def test_unknown_gpu_is_a_typed_error() -> None:
    with pytest.raises(ConfigError) as exc:
        find_gpu("voodoo-5")
    assert "H100-SXM" in (exc.value.hint or "")


def test_user_catalog_from_env_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "gpus.toml"
    path.write_text('[[gpus]]\nname = "Lab-48"\nmemory_gb = 48\nmemory_unit = "GiB"\naliases = ["lab"]\n')
    monkeypatch.setenv("HUBMEM_GPUS", str(path))
    spec = find_gpu("lab", load_catalog())
    assert spec.memory_bytes == 48 * 2**30
    bad = tmp_path / "bad.json"
    bad.write_text('{"gpus": [{"name": "x"}]}')
    with pytest.raises(ConfigError):
        load_catalog(bad)


def test_kv_adapter_over_estimate_kv_cache() -> None:
    from hubmem.estimate.fit.verdict import kv_function
    from hubmem.parse.config import parse_config

    cfg = repo_config("meta-llama__Llama-3.1-8B")
    kv = kv_function(parse_config(cfg))
    assert kv(8192, 1, 1) == 1_073_741_824  # theory 6.1
    assert kv(8192, 2, 2) == 1_073_741_824  # two sequences, half the heads per GPU
    assert kv(8192, 1, 16) == kv(8192, 1, 8) == 1_073_741_824 // 8  # one whole KV head per GPU at tp >= 8


def test_unknown_architecture_says_kv_is_not_projected() -> None:
    r = fit_inference(LLAMA_WEIGHTS, Architecture(), FitOptions(**OPTS))
    assert r.kv_bytes == 0 and r.max_context is None and r.max_batch is None
    assert "NOT projected" in r.assumptions[0]
