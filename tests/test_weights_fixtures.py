"""The weights estimate over the fixture repos (fixtures/repos/*/headers), against published figures.

Each repo is read the way the fetch stage hands it over (header bytes, N, real file size, config,
index, quantize_config.json / hf_quant_config.json) and run through parse_config + estimate_weights.
A repo whose committed headers are missing fails. The expected figures are published ones (model
cards, corpus README, index files), never numbers copied from a run of this code.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any

import pytest

from hubmem.estimate.weights.report import estimate_weights
from hubmem.formats.safetensors import Tensor, decode_header, parse_header, parse_tensors
from hubmem.parse.config import parse_config
from hubmem.schema.weights import WeightsReport
from hubmem.snapshot import Snapshot, WeightFile

from support.paths import fixture_glob, fixture_path, repo_dir, repo_meta


def published(x: int, figure: str, unit: float = 1e9) -> bool:
    """Rounded or truncated publication of ``x`` (see test_moe_published)."""
    decimals = len(figure.split(".")[1]) if "." in figure else 0
    ulp = 10.0**-decimals
    return float(figure) - ulp / 2 <= x / unit < float(figure) + ulp


def load(repo: str) -> tuple[WeightsReport, list[Tensor], dict[str, Any]]:
    d = repo_dir(repo)
    fixture_path("repos", repo, "headers")  # fails when the committed headers are missing
    files_json = repo_meta(repo)["files"]

    def js(name: str) -> Any:
        f = d / "files" / name
        return json.loads(f.read_text()) if f.exists() else None

    files, tensors = [], []
    for p in sorted((d / "headers").rglob("*.json*")):
        rel = str(p.relative_to(d / "headers")).removesuffix(".gz").removesuffix(".json")
        raw = gzip.decompress(p.read_bytes()) if p.name.endswith(".gz") else p.read_bytes()
        size = files_json[rel]["size"]
        header = decode_header(raw, file=rel)
        tensors += parse_tensors(header, file=rel, data_size=size - 8 - len(raw))
        files.append(WeightFile(rel, len(raw), parse_header(header, file=rel), size))
    config = js("config.json")
    extra = {k: v for k in ("quantize_config.json", "hf_quant_config.json") if (v := js(k)) is not None}
    snap = Snapshot(
        repo.replace("__", "/"),
        "main",
        None,
        "hub",
        config=config,
        index=js("model.safetensors.index.json"),
        files=files,
        extra=extra,
    )
    w = estimate_weights(snap, tensors, parse_config(config, tensors=tensors, companions=extra))
    # whatever the repo: exact bytes are what the files hold beyond their headers
    assert w.total_bytes == sum(f.size - 8 - f.header_length for f in files if f.size is not None)
    assert w.elements == sum(t.numel for t in tensors) and w.tensors == len(tensors)
    return w, tensors, config or {}


def _llama_3_1_8b(w: WeightsReport, t: list[Tensor], c: dict[str, Any]) -> None:
    assert w.total_bytes == 16_060_522_496 and w.parameters == 8_030_261_248  # index total_size, Hub API
    assert w.index_total_size in (None, 16_060_522_496)


def _mixtral(w: WeightsReport, t: list[Tensor], c: dict[str, Any]) -> None:
    assert w.moe is not None
    assert published(w.parameters, "46.7") and published(w.moe.active_parameters, "12.9")


def _qwen3_30b(w: WeightsReport, t: list[Tensor], c: dict[str, Any]) -> None:
    assert w.moe is not None
    assert published(w.parameters, "30.5") and published(w.moe.active_parameters, "3.3")
    # corpus README: 16 shards, 61,066,575,648 bytes of files
    assert sum((f.size or 0) for f in w.files) == 61_066_575_648 and len(w.files) == 16


def _deepseek_v3(w: WeightsReport, t: list[Tensor], c: dict[str, Any]) -> None:
    m = w.moe
    assert m is not None and w.quantization is not None and w.quantization.method == "fp8"
    assert published(w.parameters - m.mtp_parameters, "671") and published(m.active_parameters, "37")
    assert published(w.elements, "685")
    assert 13.0e9 < m.mtp_parameters < 14.5e9
    assert w.by_dtype["F8_E4M3"].parameters == w.by_dtype["F8_E4M3"].elements
    scales = [x for x in t if x.name.endswith("weight_scale_inv")]
    assert w.quantization.aux_tensors == len(scales) == w.by_dtype["F8_E4M3"].tensors


def _gpt_oss_20b(w: WeightsReport, t: list[Tensor], c: dict[str, Any]) -> None:
    assert w.moe is not None
    assert w.by_dtype["BF16"].elements == 1_804_459_584  # corpus README: Hub safetensors totals
    scales = sum(x.numel for x in t if x.name.endswith("_scales"))
    assert w.by_dtype["U8"].parameters + scales == 19_707_494_400
    assert published(w.parameters, "21") and published(w.moe.active_parameters_no_embedding, "3.61")


def _devstral(w: WeightsReport, t: list[Tensor], c: dict[str, Any]) -> None:
    assert w.parameters == w.total_parameters_metadata == 23_572_403_200
    assert w.total_bytes == w.index_total_size == 47_144_806_400


def _falcon(w: WeightsReport, t: list[Tensor], c: dict[str, Any]) -> None:
    assert w.total_bytes == 359_045_130_240 and "other" not in w.by_component


def _minilm(w: WeightsReport, t: list[Tensor], c: dict[str, Any]) -> None:
    assert w.total_bytes == 90_868_376 - 8 - 11_408 and w.elements == 22_713_728


def _gptq_13b(w: WeightsReport, t: list[Tensor], c: dict[str, Any]) -> None:
    q = w.quantization
    assert q is not None and q.method == "gptq" and q.bits == 4 and q.group_size == 128
    # Llama-2-13B has 13,015,864,320 parameters (published by Meta as "13B"; HF count)
    assert published(w.parameters, "13.0")
    assert published(sum(f.size or 0 for f in w.files), "7.26")  # TheBloke README: 7.26 GB


def _fp8_70b(w: WeightsReport, t: list[Tensor], c: dict[str, Any]) -> None:
    q = w.quantization
    assert q is not None and q.method == "modelopt" and q.format == "FP8"
    assert published(w.parameters, "70.6")  # Llama-3.1-70B: 70.6B


def _qwen3_0_6b(w: WeightsReport, t: list[Tensor], c: dict[str, Any]) -> None:
    assert w.tied_embeddings is True
    assert published(w.parameters - w.tied_duplicate_parameters, "0.6")


def _llama_3_2_1b(w: WeightsReport, t: list[Tensor], c: dict[str, Any]) -> None:
    assert w.tied_embeddings is True and published(w.parameters, "1.24")


def _qwen3_vl(w: WeightsReport, t: list[Tensor], c: dict[str, Any]) -> None:
    assert w.by_component["vision_tower"].tensors > 0 and w.by_component["projector"].tensors > 0
    assert published(w.parameters, "8.77")


CASES: dict[str, Callable[[WeightsReport, list[Tensor], dict[str, Any]], None]] = {
    "meta-llama__Llama-3.1-8B": _llama_3_1_8b,
    "mistralai__Mixtral-8x7B-v0.1": _mixtral,
    "Qwen__Qwen3-30B-A3B": _qwen3_30b,
    "deepseek-ai__DeepSeek-V3": _deepseek_v3,
    "openai__gpt-oss-20b": _gpt_oss_20b,
    "mistralai__Devstral-Small-2507": _devstral,
    "tiiuae__falcon-180B-chat": _falcon,
    "sentence-transformers__all-MiniLM-L6-v2": _minilm,
    "TheBloke__Llama-2-13B-chat-GPTQ": _gptq_13b,
    "nvidia__Llama-3.1-70B-Instruct-FP8": _fp8_70b,
    "Qwen__Qwen3-0.6B": _qwen3_0_6b,
    "meta-llama__Llama-3.2-1B": _llama_3_2_1b,
    "Qwen__Qwen3-VL-8B-Instruct": _qwen3_vl,
}


@pytest.mark.parametrize("repo", sorted(CASES))
def test_published_figures(repo: str) -> None:
    w, tensors, config = load(repo)
    CASES[repo](w, tensors, config)


ALL = [p.parent.name for p in fixture_glob("repos/*/headers")]


@pytest.mark.parametrize("repo", ALL)
def test_every_fixture_repo_is_classified(repo: str) -> None:
    """No tensor of a real model family lands in 'other' except known heads (pooler, NSP)."""
    try:
        w, tensors, _ = load(repo)
    except Exception as exc:  # fixtures of corrupt headers exist on purpose
        assert type(exc).__name__ == "CorruptHeaderError", exc
        return
    if "other" in w.by_component:
        from hubmem.estimate.weights.components import classify_tensor

        other = {x.name for x in tensors if classify_tensor(x.name, x.shape).component == "other"}
        assert all("pooler" in n or "seq_relationship" in n for n in other), sorted(other)[:5]
    if w.moe is not None:
        assert 0 < w.moe.active_parameters < w.moe.total_parameters
