"""The start-up budget: vLLM's defaults per GPU and release, the activation peak of its profile run, the
documented non-torch / CUDA-graph ranges, and the rope buffers and derived max_model_len.

Activation figures are worked from vLLM's profile_run (gpu_model_runner.py) as the research note derives
them (SPEC.md 1.3) and compared with peaks vLLM printed in its 0.10.2 profile line (shared/engine-logs).
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from hubmem.estimate.engines.vllm.budget import activation_peak, capture_sizes, cuda_graphs, non_torch
from hubmem.estimate.engines.vllm.era import Era
from hubmem.estimate.engines.vllm.rope import rope_spec
from hubmem.estimate.engines.vllm.settings import Settings, resolve_settings
from hubmem.parse.config import parse_config
from hubmem.schema.architecture import Architecture
from hubmem.schema.engines import VllmOptions
from hubmem.schema.kv import KVOptions
from hubmem.schema.options import Options

from support.paths import repo_config
from support.theory_configs import theory_config

GiB = 1 << 30


def settings(arch: Architecture, gpu: str = "h100", version: str = "0.10.2", **kw: Any) -> Settings:
    options = Options(gpu=gpu, vllm=VllmOptions(vllm_version=version, **kw), kv=KVOptions(engine="vllm"))
    return resolve_settings(options, arch, derived_max_len=arch.max_context)


@pytest.mark.parametrize(
    ("gpu", "version", "tokens", "seqs"),
    [
        ("h100", "0.10.2", 8192, 1024),  # >= 70 GiB, not an A100
        ("l40s", "0.10.2", 2048, 256),  # vllm-012: T=2048, N=256
        ("a100-40", "0.19", 2048, 256),
        ("80GB", "0.8.5", 8192, 1024),  # 0.8.5 had no A100 exception (74.5 GiB here)
        ("b200", "0.28", 16384, 1024),  # >= 160 GiB from 0.28
    ],
)
def test_vllm_serve_scheduler_defaults(gpu: str, version: str, tokens: int, seqs: int) -> None:
    s = settings(parse_config(repo_config("meta-llama__Llama-3.1-8B")), gpu=gpu, version=version)
    assert (s.mnbt, s.max_num_seqs) == (tokens, seqs)


def test_utilization_default_and_max_model_len_default() -> None:
    arch = parse_config(repo_config("Qwen__Qwen3-8B"))
    assert settings(arch, version="0.19").utilization == 0.9
    assert settings(arch, version="0.22").utilization == 0.92
    assert settings(arch).max_model_len == 40_960  # the model's derived maximum, as vllm serve


@pytest.mark.parametrize("version", ["1.2", "0.3", "latest"])
def test_a_version_hubmem_does_not_follow_is_refused(version: str) -> None:
    with pytest.raises(ValidationError):
        VllmOptions(vllm_version=version)


def test_llama_8b_activation_peak_is_the_sampler_on_h100() -> None:
    """llm-d's H100 profile line (0.10.x, PyTorch sampler): 4.76 GiB. Worked: 38 B x 1024 x 128,256 logits +
    8192 x 4096 x 2 hidden states + 2 x 1024 x 4096 x 2 = 4.73 GiB (the forward peaks at 0.84 GiB)."""
    arch = parse_config(repo_config("meta-llama__Llama-3.1-8B"))
    peak = activation_peak(arch, settings(arch, sampler="pytorch"), last_stage=True)
    assert peak.bytes == 38 * 1024 * 128_256 + 8192 * 4096 * 2 + 2 * 1024 * 4096 * 2
    assert abs(peak.bytes / GiB - 4.76) / 4.76 < 0.01


def test_v0_profiles_only_the_forward_of_max_model_len_tokens() -> None:
    """vllm-001 (V0, max_model_len 20000): peak_torch 17.06 - weights 14.99 = 2.07 GiB;
    worked 20000 x 2 B x (3 x 4096 + 3 x 14336) = 2.06 GiB."""
    arch = parse_config(repo_config("meta-llama__Llama-3.1-8B"))
    opts = Options(
        gpu="rtx-3090", kv=KVOptions(engine="vllm", context=20_000), vllm=VllmOptions(vllm_version="0.6")
    )
    s = resolve_settings(opts, arch, derived_max_len=arch.max_context)
    peak = activation_peak(arch, s, last_stage=True)
    assert peak.bytes == 20_000 * 2 * (3 * 4096 + 3 * 14_336)
    assert abs(peak.bytes / GiB - 2.07) < 0.02


def test_sampler_path_per_release() -> None:
    assert Era.of("0.10.2").sampler_default(1024) == "pytorch"
    assert Era.of("0.19").sampler_default(1024) == "triton"
    assert Era.of("0.19").sampler_default(4) == "pytorch"  # the Triton kernel needs >= 8 rows


def test_non_torch_and_graphs_are_ranges_not_fitted_constants() -> None:
    arch = parse_config(repo_config("meta-llama__Llama-3.1-8B"))
    one = non_torch(settings(arch))
    assert one.low_bytes is not None and one.high_bytes is not None
    assert one.low_bytes <= one.bytes <= one.high_bytes
    tp2_pcie = non_torch(settings(arch, gpu="l40s", tensor_parallel_size=2))
    tp2_nvlink = non_torch(settings(arch, gpu="h100", tensor_parallel_size=2))
    assert tp2_pcie.bytes < tp2_nvlink.bytes
    graphs = cuda_graphs(settings(arch), 32)
    assert graphs is not None and not graphs.subtracted  # before 0.21 they are captured after the pool
    newer = cuda_graphs(settings(arch, version="0.22"), 32)
    assert newer is not None and newer.subtracted
    assert cuda_graphs(settings(arch, enforce_eager=True), 32) is None


def test_capture_sizes_as_vllm_0_10_2() -> None:
    sizes = capture_sizes(1024, 8192)
    assert len(sizes) == 67 and sizes[:5] == [1, 2, 4, 8, 16] and sizes[-1] == 512
    assert capture_sizes(8, 8192) == [1, 2, 4, 8, 16]


def test_rope_buffers_and_derived_max_len() -> None:
    llama = repo_config("meta-llama__Llama-3.1-8B")  # llama3 rope: rows = max_position, not multiplied
    spec = rope_spec(parse_config(llama), 2, learned_positions=False)
    assert spec.bytes == 131_072 * 128 * 2 and spec.derived_max_len == 131_072
    oss = theory_config("gpt-oss-120b")  # built in float32 by gpt_oss.py
    spec = rope_spec(parse_config(oss), 2, learned_positions=False)
    assert spec.bytes == 131_072 * 64 * 4
    qwen = {**repo_config("Qwen__Qwen3-8B"), "rope_scaling": {"rope_type": "yarn", "factor": 4.0,
            "original_max_position_embeddings": 32_768}}  # fmt: skip
    spec = rope_spec(parse_config(qwen), 2, learned_positions=False)
    assert spec.derived_max_len == 131_072  # YaRN: original x factor (Qwen3's model card recipe)
    assert spec.buffers[0].rows == 131_072
    gpt2 = repo_config("openai-community__gpt2")  # learned positions: no rope buffer
    assert rope_spec(parse_config(gpt2), 2, learned_positions=True).bytes == 0
