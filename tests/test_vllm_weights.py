"""``Model loading took``: weights per GPU rank as vLLM loads them, from the committed fixture headers.

Expected integers are worked by hand from vLLM's layer rules (research note SPEC.md section 4.2, vLLM
``vocab_parallel_embedding.py`` / ``linear.py`` / ``rotary_embedding``) or printed by vLLM itself (the logs'
``Model loading took`` lines, shared/engine-logs/vllm.json), never taken from hubmem's output.
"""

from __future__ import annotations

from functools import lru_cache

import pytest

from hubmem.estimate.engines.vllm.rope import rope_spec
from hubmem.estimate.engines.vllm.settings import resolve_settings
from hubmem.estimate.engines.vllm.shard import Layout, dense_share, vocab_share
from hubmem.estimate.engines.vllm.startup import project_startup
from hubmem.estimate.engines.vllm.weights import pp_layer_ranges, weights_per_stage
from hubmem.formats.safetensors import Tensor
from hubmem.parse.config import parse_config
from hubmem.schema.architecture import Architecture
from hubmem.schema.engines import VllmOptions
from hubmem.schema.kv import KVOptions
from hubmem.schema.options import Options
from scripts.validate.vllm_inputs import fixture_snapshot, tensors_of

GiB = 1 << 30


@lru_cache(maxsize=8)
def model(repo: str) -> tuple[list[Tensor], Architecture]:
    snap = fixture_snapshot(repo)
    tensors = tensors_of(snap)
    assert snap.config is not None
    return tensors, parse_config(snap.config, tensors=tensors, companions=snap.extra)


def loading(repo: str, **vllm: object) -> int:
    tensors, arch = model(repo)
    options = Options(gpu="h100", vllm=VllmOptions(**vllm), kv=KVOptions(engine="vllm"))  # type: ignore[arg-type]
    return project_startup(tensors, arch, options).view.model_loading_bytes


def test_llama_31_8b_tp1_is_the_checkpoint_plus_the_rope_buffer() -> None:
    # 16,060,522,496 B of tensors (index total_size) + cos_sin_cache 131,072 rows x 128 x 2 B; vLLM printed
    # 14.9888
    assert loading("meta-llama/Llama-3.1-8B") == 16_060_522_496 + 131_072 * 128 * 2 == 16_094_076_928


def test_llama_31_8b_tp2_splits_every_layer_and_pads_the_vocab_per_rank() -> None:
    embed_and_head = 2 * (128_256 // 2) * 4096 * 2  # pad(128256, 64) = 128256 rows / 2 ranks
    per_layer = (
        (16 * 128 + 2 * 4 * 128) * 4096 + 4096 * 2048 + 3 * 7168 * 4096 + 2 * 4096
    )  # qkv, o, mlp, norms
    total = embed_and_head + 32 * per_layer * 2 + 4096 * 2 + 131_072 * 128 * 2
    assert total == 8_064_081_920
    assert loading("meta-llama/Llama-3.1-8B", tensor_parallel_size=2) == total


def test_qwen3_8b_tp2() -> None:
    assert loading("Qwen/Qwen3-8B", tensor_parallel_size=2) == 8_201_529_344  # SPEC.md 4.2


@pytest.mark.parametrize(
    ("repo", "vllm", "logged_gib"),
    [
        ("Qwen/Qwen3-30B-A3B", {"tensor_parallel_size": 4, "vllm_version": "0.8.5"}, 14.2474),  # vllm-014
        ("openai/gpt-oss-20b", {"vllm_version": "0.19"}, 13.72),  # vllm-018/019: A100, Marlin MXFP4
    ],
)
def test_logged_model_loading_within_one_percent(
    repo: str, vllm: dict[str, object], logged_gib: float
) -> None:
    tensors, arch = model(repo)
    options = Options(gpu="a100-80", vllm=VllmOptions(**vllm), kv=KVOptions(engine="vllm"))  # type: ignore[arg-type]
    got = project_startup(tensors, arch, options).view.model_loading_bytes / GiB
    assert abs(got - logged_gib) / logged_gib < 0.01


def test_mxfp4_experts_are_repacked_by_the_kernel_of_the_gpu() -> None:
    """gpt-oss-20b (24 layers, 32 experts, I = H = 2880): Marlin pads I to a multiple of 128 (2944) and H
    to 256
    (3072) (A100); the Triton path pads I to 64 (2880 stays), keeps H, and holds the scales twice with fp32
    biases (H100, >= 0.11)."""
    tensors, arch = model("openai/gpt-oss-20b")

    def experts(gpu: str) -> int:
        opts = Options(gpu=gpu, kv=KVOptions(engine="vllm"))
        settings = resolve_settings(opts, arch, derived_max_len=arch.max_context)
        stages, _ = weights_per_stage(tensors, arch, settings, rope_spec(arch, 2, learned_positions=False))
        return stages[0].parts["experts"]

    def layer(ip: int, hp: int, scale_copies: int, bias_bytes: int) -> int:
        blocks = (2 * ip * hp + hp * ip) // 2
        scales = (2 * ip * hp + hp * ip) // 32 * scale_copies
        return 32 * (blocks + scales + (2 * ip + hp) * bias_bytes)

    assert experts("a100-80") == 24 * layer(2944, 3072, 1, 2)
    assert experts("h100") == 24 * layer(2880, 2880, 2, 4)


def test_expert_parallel_keeps_whole_experts_and_replicates_kv_heads() -> None:
    """Qwen3-235B-A22B-FP8 tp8 + EP: 16 of 128 experts per rank, unsplit; 4 KV heads over 8 ranks = 1 per
    rank."""
    tensors, arch = model("Qwen/Qwen3-235B-A22B-FP8")
    opts = Options(gpu="l40s", vllm=VllmOptions(tensor_parallel_size=8, enable_expert_parallel=True))
    settings = resolve_settings(opts, arch, derived_max_len=arch.max_context)
    stage = weights_per_stage(tensors, arch, settings, rope_spec(arch, 2, learned_positions=False))[0][0]
    # per layer: 16 experts x (3 x 1536 x 4096 fp8 + scales fp32 [12 x 32] x 2 + [32 x 12])
    experts = 94 * 16 * (3 * 1536 * 4096 + (2 * 12 * 32 + 32 * 12) * 4)
    assert stage.parts["experts"] == experts
    k_proj = next(t for t in tensors if t.name == "model.layers.0.self_attn.k_proj.weight")
    assert k_proj.shape == (512, 4096)  # 4 KV heads x 128
    layout = Layout(tp=8, ep=8, num_heads=64, num_kv_heads=4, num_experts=128, dtype_bytes=2)
    assert dense_share(k_proj, layout, k_proj.nbytes).bytes == 128 * 4096  # one head per rank


def test_vocab_is_padded_to_64_before_the_split() -> None:
    gpt2_wte = Tensor("wte.weight", "F32", (50_257, 768), 0, 50_257 * 768 * 4)
    layout = Layout(tp=2, ep=1, num_heads=12, num_kv_heads=12, num_experts=0, dtype_bytes=2)
    assert vocab_share(gpt2_wte, layout, 50_257 * 768 * 2).bytes == 50_304 // 2 * 768 * 2  # 50257 -> 50304


def test_mtp_layers_load_only_with_mtp_speculative_decoding() -> None:
    """DeepSeek-V3's layer 61 is its MTP module: counted only with --mtp (the drafter is loaded then)."""
    tensors, arch = model("deepseek-ai/DeepSeek-V3")
    mtp_bytes = sum(t.nbytes for t in tensors if ".layers.61." in t.name)
    base = project_startup(tensors, arch, Options(gpu="b200", kv=KVOptions(engine="vllm"))).view
    mtp_on = Options(gpu="b200", kv=KVOptions(engine="vllm", include_mtp=True))
    with_mtp = project_startup(tensors, arch, mtp_on).view
    added = with_mtp.model_loading_bytes - base.model_loading_bytes
    assert mtp_bytes > 10 * 2**30 and added == pytest.approx(mtp_bytes, rel=0.01)


@pytest.mark.parametrize(
    ("layers", "pp", "sizes"),
    [(40, 2, [20, 20]), (61, 4, [15, 15, 16, 15]), (94, 3, [31, 32, 31]), (32, 1, [32])],
)
def test_pipeline_stages_as_get_pp_indices(layers: int, pp: int, sizes: list[int]) -> None:
    """``get_pp_indices``: L // pp each, the remainder to the stages just before the last."""
    ranges = pp_layer_ranges(layers, pp)
    assert [len(r) for r in ranges] == sizes
    assert ranges[0].start == 0 and ranges[-1].stop == layers


def test_tied_lm_head_is_not_loaded_twice() -> None:
    """Qwen3-0.6B stores lm_head.weight although tie_word_embeddings is true; vLLM ties it to the
    embedding."""
    tensors, _ = model("Qwen/Qwen3-0.6B")
    head = next(t for t in tensors if t.name == "lm_head.weight")
    assert loading("Qwen/Qwen3-0.6B") == sum(t.nbytes for t in tensors) - head.nbytes + 40_960 * 128 * 2
