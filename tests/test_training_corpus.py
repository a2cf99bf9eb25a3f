"""Training projections over the fixture headers of real repos (dense, MoE, FP8, GPTQ, MXFP4, ModelOpt).

Cross-checks two independent implementations: the training estimator's own per-tensor unpacking must give
the same logical parameter count as the weights section (``estimate_weights``), and published figures
(corpus README) where there is one. Every projection must come back complete and self-consistent.
"""

from __future__ import annotations

import gzip
import json

import pytest

from hubmem.estimate.training.report import estimate_training
from hubmem.estimate.weights.report import estimate_weights
from hubmem.formats.safetensors import Tensor, parse_header, parse_tensors
from hubmem.parse.config import parse_config
from hubmem.schema.training import TrainingOptions
from hubmem.snapshot import Snapshot, WeightFile

from support.paths import fixture_path, repo_config, repo_dir

# published parameter counts (corpus README): exact integers, or the rounding the card uses
PUBLISHED = {
    "meta-llama__Llama-3.1-8B": 8_030_261_248,
    "mistralai__Devstral-Small-2507": 23_572_403_200,
}
PUBLISHED_ROUNDED = {"Qwen__Qwen3-30B-A3B": (30.5, 1e9, 1), "openai__gpt-oss-20b": (21, 1e9, 0)}
CASES = [
    "meta-llama__Llama-3.1-8B",
    "mistralai__Devstral-Small-2507",
    "Qwen__Qwen3-30B-A3B",
    "Qwen__Qwen3-30B-A3B-FP8",
    "TheBloke__Llama-2-13B-chat-GPTQ",
    "openai__gpt-oss-20b",
    "nvidia__Llama-3.1-70B-Instruct-FP8",
    "microsoft__Phi-3.5-mini-instruct",
    "openai-community__gpt2",
]


def load(repo: str) -> tuple[Snapshot, list[Tensor]]:
    root = repo_dir(repo)
    fixture_path("repos", repo, "headers")  # fails when the committed headers are missing
    files, tensors = [], []
    for path in sorted(p for p in (root / "headers").rglob("*") if p.is_file()):
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
        header = json.loads(raw)
        name = str(path.relative_to(root / "headers")).removesuffix(".gz").removesuffix(".json")
        tensors += parse_tensors(header, file=name)
        files.append(WeightFile(path=name, header_length=len(raw), header=parse_header(header, file=name)))
    config = repo_config(repo)
    snap = Snapshot(repo_id=repo, revision="main", commit=None, source="local", config=config, files=files)
    return snap, tensors


@pytest.mark.parametrize("repo", CASES)
def test_full_finetune_counts_agree_with_the_weights_section(repo: str) -> None:
    snap, tensors = load(repo)
    arch = parse_config(snap.config, tensors=tensors)
    weights = estimate_weights(snap, tensors, arch)
    report = estimate_training(weights, tensors, arch, TrainingOptions())
    # stored buffers (GPT-2's attn.bias masks) are in weights.parameters as the Hub counts them, never trained
    model = weights.parameters - weights.buffer_elements
    assert report.trainable_parameters == model
    assert report.model_states_bytes == 16 * model + sum(
        i.bytes for i in report.breakdown if "buffers" in i.name
    )
    assert not report.missing
    assert report.activations_bytes > 0 and report.logits_bytes > 0
    assert sum(i.bytes for i in report.breakdown) == report.per_gpu_bytes
    if repo in PUBLISHED:
        assert weights.parameters == PUBLISHED[repo]
    if repo in PUBLISHED_ROUNDED:
        value, unit, digits = PUBLISHED_ROUNDED[repo]
        assert round(weights.parameters / unit, digits) == value


@pytest.mark.parametrize("repo", CASES)
def test_lora_and_qlora_are_complete(repo: str) -> None:
    snap, tensors = load(repo)
    arch = parse_config(snap.config, tensors=tensors)
    weights = estimate_weights(snap, tensors, arch)
    lora = estimate_training(weights, tensors, arch, TrainingOptions(method="lora", rank=8))
    qlora = estimate_training(weights, tensors, arch, TrainingOptions(method="qlora", rank=8))
    assert lora.lora is not None and lora.lora.adapted_modules > 0
    assert lora.trainable_parameters == qlora.trainable_parameters > 0
    assert lora.frozen_parameters == weights.parameters - weights.buffer_elements
    # the NF4 base is smaller than a 16-bit one, and larger than 4 bits per parameter
    base = sum(i.bytes for i in qlora.breakdown if i.name.startswith("QLoRA base"))
    assert weights.parameters // 2 < base < 2 * weights.parameters


def test_moe_lora_skips_experts_and_router_unless_asked() -> None:
    snap, tensors = load("Qwen__Qwen3-30B-A3B")
    assert snap.config is not None
    cfg = snap.config
    arch = parse_config(cfg, tensors=tensors)
    weights = estimate_weights(snap, tensors, arch)
    h, hd, r = cfg["hidden_size"], cfg["head_dim"], 8
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    attention = r * ((h + q) + 2 * (h + kv) + (q + h))  # q, k, v, o
    experts = cfg["num_experts"] * 3 * r * (h + cfg["moe_intermediate_size"])  # gate, up, down per expert
    layers = cfg["num_hidden_layers"]
    plain = estimate_training(weights, tensors, arch, TrainingOptions(method="lora", rank=r))
    assert plain.trainable_parameters == layers * attention
    assert any("routed-expert" in a for a in plain.assumptions)
    with_experts = estimate_training(
        weights, tensors, arch, TrainingOptions(method="lora", rank=r, lora_experts=True)
    )
    assert with_experts.trainable_parameters == layers * (attention + experts)
