"""Training fit: does a configuration fit on N GPUs of a kind, and the fewest GPUs that do."""

from __future__ import annotations

import math

from hubmem.estimate.fit.training import fit_training
from hubmem.estimate.training.prepare import prepare_training
from hubmem.estimate.training.report import TrainingPlan, estimate_training, plan_training
from hubmem.formats.safetensors import Tensor
from hubmem.schema.architecture import Architecture
from hubmem.schema.fit import FitOptions
from hubmem.schema.training import TrainingOptions
from hubmem.schema.weights import WeightsReport

from support.paths import repo_config

CFG = repo_config("meta-llama__Llama-3.1-8B")
H, INTER, V, L = CFG["hidden_size"], CFG["intermediate_size"], CFG["vocab_size"], CFG["num_hidden_layers"]
NH, NKV = CFG["num_attention_heads"], CFG["num_key_value_heads"]
HD = H // NH


def _tensors() -> list[Tensor]:
    shapes: list[tuple[str, tuple[int, ...]]] = [("model.embed_tokens.weight", (V, H))]
    for i in range(L):
        p = f"model.layers.{i}."
        shapes += [
            (p + "input_layernorm.weight", (H,)),
            (p + "self_attn.q_proj.weight", (NH * HD, H)),
            (p + "self_attn.k_proj.weight", (NKV * HD, H)),
            (p + "self_attn.v_proj.weight", (NKV * HD, H)),
            (p + "self_attn.o_proj.weight", (H, NH * HD)),
            (p + "post_attention_layernorm.weight", (H,)),
            (p + "mlp.gate_proj.weight", (INTER, H)),
            (p + "mlp.up_proj.weight", (INTER, H)),
            (p + "mlp.down_proj.weight", (H, INTER)),
        ]
    shapes += [("model.norm.weight", (H,)), ("lm_head.weight", (V, H))]
    out, off = [], 0
    for name, shape in shapes:
        n = math.prod(shape) * 2
        out.append(Tensor(name, "BF16", shape, off, off + n))
        off += n
    return out


TENSORS = _tensors()
P = sum(t.numel for t in TENSORS)
WEIGHTS = WeightsReport(
    total_bytes=2 * P, parameters=P, elements=P, tensors=len(TENSORS), by_dtype={}, by_component={}, files=[]
)
ARCH = Architecture(
    num_layers=L,
    hidden_size=H,
    num_attention_heads=NH,
    num_kv_heads=NKV,
    head_dim=HD,
    intermediate_size=INTER,
    vocab_size=V,
    max_context=CFG["max_position_embeddings"],
    layer_kinds=["full"] * L,
)


def plan(training: TrainingOptions) -> TrainingPlan:
    return plan_training(prepare_training(WEIGHTS, TENSORS, ARCH), training)


def test_full_finetune_does_not_fit_one_h100() -> None:
    r = fit_training(plan(TrainingOptions()), FitOptions(gpu="H100-SXM"))
    assert not r.fits and r.mode == "training"
    assert r.required_bytes >= 16 * P > r.usable_bytes  # 128.5 GB of model states alone
    # utilization 1.0 for training, 1.5 GiB reserve, of the total CUDA reports (torch: total_memory=81090MB)
    assert r.usable_bytes == 81_090 * 2**20 - 3 * 2**29


def test_min_gpus_with_zero3_is_a_boundary() -> None:
    training = TrainingOptions(zero=3, gpus=8)
    r = fit_training(plan(training), FitOptions(gpu="H100-SXM"))
    assert r.fits and r.min_gpus is not None and r.min_gpus > 1
    k = r.candidates.index(r.min_gpus)

    def per_gpu(n: int) -> int:
        return estimate_training(
            WEIGHTS, TENSORS, ARCH, training.model_copy(update={"gpus": n})
        ).per_gpu_bytes

    assert per_gpu(r.min_gpus) <= r.usable_bytes < per_gpu(r.candidates[k - 1])
    # model states shrink as 16P/N: the fewest GPUs need at least 16P / usable of them
    assert r.min_gpus >= 16 * P / r.usable_bytes


def test_qlora_on_a_24gb_card_needs_checkpointing() -> None:
    opts = FitOptions(gpu="L4")
    plain = fit_training(plan(TrainingOptions(method="qlora", gradient_checkpointing="none")), opts)
    ckpt = fit_training(plan(TrainingOptions(method="qlora")), opts)  # PEFT's recipes: full, the default
    assert TrainingOptions(method="qlora").gradient_checkpointing == "full"
    assert TrainingOptions(method="lora").gradient_checkpointing == "none"
    # 32 layers x (41sbh + LSE 4as) of activations (22 GB) do not fit in 24 GB; 2sbh/layer + one layer do
    assert not plain.fits and ckpt.fits
    lse = 4 * NH * 4096
    assert plain.required_bytes - ckpt.required_bytes == 32 * (41 * 4096 * H + lse) - (
        32 * 2 * 4096 * H + 41 * 4096 * H + lse
    )
