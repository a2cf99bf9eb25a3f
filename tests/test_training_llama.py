"""Training projections for Llama-3.1-8B against docs/theory.md section 6.10 and published counts.

The tensor list is built here from the real config.json (fixtures/repos/meta-llama__Llama-3.1-8B) with the
shapes transformers' LlamaForCausalLM gives each parameter; every expected figure is either a published
number (corpus README, theory 6.10) or computed in the test from those shapes.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from hubmem.estimate.training.report import estimate_training
from hubmem.formats.safetensors import Tensor
from hubmem.schema.architecture import Architecture
from hubmem.schema.training import TrainingOptions, TrainingReport
from hubmem.schema.weights import WeightsReport

from support.paths import repo_config

PUBLISHED_PARAMS = 8_030_261_248  # corpus README: meta-llama/Llama-3.1-8B, Hub API
PUBLISHED_TOTAL_SIZE = 16_060_522_496  # index metadata.total_size (corpus README, theory 6.1)
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def llama_shapes(cfg: dict[str, Any]) -> list[tuple[str, tuple[int, ...]]]:
    h, inter, vocab = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or h // nh
    shapes: list[tuple[str, tuple[int, ...]]] = [("model.embed_tokens.weight", (vocab, h))]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        shapes += [
            (p + "input_layernorm.weight", (h,)),
            (p + "self_attn.q_proj.weight", (nh * hd, h)),
            (p + "self_attn.k_proj.weight", (nkv * hd, h)),
            (p + "self_attn.v_proj.weight", (nkv * hd, h)),
            (p + "self_attn.o_proj.weight", (h, nh * hd)),
            (p + "post_attention_layernorm.weight", (h,)),
            (p + "mlp.gate_proj.weight", (inter, h)),
            (p + "mlp.up_proj.weight", (inter, h)),
            (p + "mlp.down_proj.weight", (h, inter)),
        ]
    shapes.append(("model.norm.weight", (h,)))
    if not cfg.get("tie_word_embeddings"):
        shapes.append(("lm_head.weight", (vocab, h)))
    return shapes


def as_tensors(shapes: list[tuple[str, tuple[int, ...]]], dtype: str = "BF16", size: int = 2) -> list[Tensor]:
    out, offset = [], 0
    for name, shape in shapes:
        nbytes = math.prod(shape) * size
        out.append(Tensor(name, dtype, shape, offset, offset + nbytes, "model.safetensors"))
        offset += nbytes
    return out


def weights_of(tensors: list[Tensor]) -> WeightsReport:
    n = sum(t.numel for t in tensors)
    return WeightsReport(
        total_bytes=sum(t.nbytes for t in tensors),
        parameters=n,
        elements=n,
        tensors=len(tensors),
        by_dtype={},
        by_component={},
        files=[],
    )


def arch_of(cfg: dict[str, Any]) -> Architecture:
    h, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    return Architecture(
        model_type=cfg["model_type"],
        num_layers=cfg["num_hidden_layers"],
        hidden_size=h,
        num_attention_heads=nh,
        num_kv_heads=cfg["num_key_value_heads"],
        head_dim=cfg.get("head_dim") or h // nh,
        intermediate_size=cfg["intermediate_size"],
        vocab_size=cfg["vocab_size"],
        max_context=cfg["max_position_embeddings"],
        dtype=cfg["torch_dtype"],
        tie_word_embeddings=cfg.get("tie_word_embeddings"),
        layer_kinds=["full"] * cfg["num_hidden_layers"],
    )


CFG = repo_config("meta-llama__Llama-3.1-8B")
TENSORS = as_tensors(llama_shapes(CFG))
WEIGHTS = weights_of(TENSORS)
ARCH = arch_of(CFG)
P = sum(t.numel for t in TENSORS)


def run(**kw: Any) -> TrainingReport:
    return estimate_training(WEIGHTS, TENSORS, ARCH, TrainingOptions(**kw))


def item(report: TrainingReport, name: str) -> int:
    return next(i.bytes for i in report.breakdown if i.name == name)


def alt(report: TrainingReport, prefix: str) -> int:
    return next(i.bytes for i in report.alternatives if i.name.startswith(prefix))


# ------------------------------------------------------------------------------------ model states


def test_parameter_count_matches_the_published_figure() -> None:
    assert P == PUBLISHED_PARAMS
    assert sum(t.nbytes for t in TENSORS) == PUBLISHED_TOTAL_SIZE
    assert run().trainable_parameters == PUBLISHED_PARAMS


def test_full_finetune_mixed_adamw_is_16_bytes_per_parameter() -> None:
    r = run()
    assert r.model_states_bytes == 16 * P == 128_484_179_968  # theory 6.10
    assert item(r, "weights") == 2 * P
    assert item(r, "gradients") == 2 * P
    assert item(r, "fp32 master weights") == 4 * P
    assert item(r, "optimizer states") == 8 * P
    assert all(i.formula for i in r.breakdown)
    assert any("2+2+12" in a for a in r.assumptions)


def test_alternative_accountings_are_reported() -> None:
    r = run()
    assert alt(r, "model states, HF anatomy") == 18 * P == 144_544_702_464  # theory 6.10
    assert alt(r, "model states, Megatron") == 18 * P
    assert alt(r, "DeepSpeed estimate_zero2") == 2 * P + 18 * P == 160_605_224_960  # N = 1
    assert alt(r, "accelerate") == 8 * P
    hf = run(accounting="hf")
    assert hf.model_states_bytes == 18 * P


@pytest.mark.parametrize(
    ("zero", "expected"),
    [
        (1, 4 * P + 12 * P // 8),  # ZeRO-1: 4P + 12P/N
        (2, 2 * P + 14 * P // 8),  # ZeRO-2: 2P + 14P/N
        (3, 16 * P // 8),  # ZeRO-3: 16P/N
    ],
)
def test_zero_stages_over_8_gpus(zero: int, expected: int) -> None:
    theory = {1: 44_166_436_864, 2: 30_113_479_680, 3: 16_060_522_496}  # theory 6.10
    r = run(gpus=8, zero=zero)
    assert r.model_states_bytes == expected == theory[zero]
    assert r.data_parallel == 8 and r.sharding == f"zero-{zero}"


def test_zero3_gathers_the_largest_module_and_matches_deepspeed_estimator() -> None:
    r = run(gpus=8, zero=3)
    embed = CFG["vocab_size"] * CFG["hidden_size"]  # embed_tokens / lm_head: the largest module
    assert r.gathered_bytes == 4 * embed == 2_101_346_304
    assert alt(r, "DeepSpeed estimate_zero3") == 4 * embed + 18 * P // 8 == 20_169_434_112  # theory 6.10
    assert r.per_gpu_bytes == r.model_states_bytes + r.gathered_bytes + r.activations_bytes + r.logits_bytes


def test_fsdp_strategies_map_to_zero_stages() -> None:
    full = run(gpus=8, fsdp="full_shard")
    grad_op = run(gpus=8, fsdp="shard_grad_op")
    no_shard = run(gpus=8, fsdp="no_shard")
    assert full.model_states_bytes == 16 * P // 8
    assert grad_op.model_states_bytes == 2 * P + 14 * P // 8
    assert no_shard.model_states_bytes == 16 * P
    # FULL_SHARD gathers one wrapped unit: the root (embedding + head + final norm) is larger than a layer
    h, v = CFG["hidden_size"], CFG["vocab_size"]
    root = 2 * v * h + h
    assert full.gathered_bytes == root * 2 * 2  # 16-bit params + 16-bit grads
    hybrid = run(gpus=16, fsdp="hybrid_shard", gpus_per_node=8)
    assert hybrid.model_states_bytes == 16 * P // 8  # sharded within a node of 8 only


@pytest.mark.parametrize(
    ("options", "per_param"),
    [
        ({"precision": "fp32"}, 16),  # 4 + 4 + 8
        ({"precision": "bf16"}, 8),  # 2 + 2 + 4 (pure bf16)
        ({"optimizer": "sgd", "precision": "fp32"}, 12),  # 4 + 4 + 4
        ({"optimizer": "sgd", "precision": "mixed", "accounting": "hf"}, 14),  # HF anatomy 6 + 4 + 4
        ({"optimizer": "sgd-no-momentum", "precision": "fp32"}, 8),
        ({"optimizer": "adamw-fp32"}, 16),  # legacy spelling
    ],
)
def test_bytes_per_parameter_table(options: dict[str, Any], per_param: int) -> None:
    assert run(**options).model_states_bytes == per_param * P


def test_8bit_adam_uses_the_real_tensor_sizes() -> None:
    # Qwen3-0.6B has q_norm / k_norm (128) and layer norms (1024) below bitsandbytes' min_8bit_size=4096
    cfg = repo_config("Qwen__Qwen3-0.6B")
    shapes = llama_shapes(cfg)
    for i in range(cfg["num_hidden_layers"]):
        shapes += [
            (f"model.layers.{i}.self_attn.q_norm.weight", (cfg["head_dim"],)),
            (f"model.layers.{i}.self_attn.k_norm.weight", (cfg["head_dim"],)),
        ]
    tensors = as_tensors(shapes)
    n_all = sum(t.numel for t in tensors)
    expected_states = 0
    for t in tensors:
        n = t.numel
        expected_states += 2 * n + 2 * -(-n // 256) * 4 if n >= 4096 else 8 * n
    r = estimate_training(weights_of(tensors), tensors, arch_of(cfg), TrainingOptions(optimizer="adamw-8bit"))
    assert item(r, "optimizer states") == expected_states
    assert r.model_states_bytes == (2 + 2 + 4) * n_all + expected_states
    small = [t for t in tensors if t.numel < 4096]
    assert len(small) == 2 * cfg["num_hidden_layers"] + 2 * cfg["num_hidden_layers"] + 1  # norms keep fp32


def test_adafactor_factors_rows_and_columns() -> None:
    expected = 0
    for t in TENSORS:
        expected += 4 * (t.shape[0] + t.shape[1]) if len(t.shape) == 2 else 4 * t.numel
    r = run(optimizer="adafactor")
    assert item(r, "optimizer states") == expected
    with_beta1 = run(optimizer="adafactor", adafactor_beta1=True)
    assert item(with_beta1, "optimizer states") == expected + 4 * P


# ------------------------------------------------------------------------------------- LoRA / QLoRA


def test_lora_rank16_all_projections() -> None:
    for targets in (",".join(PROJECTIONS), "all-linear"):
        r = run(method="lora", rank=16, lora_targets=targets)
        assert r.trainable_parameters == 41_943_040  # theory 6.10
        assert r.lora is not None and r.lora.adapted_modules == 7 * CFG["num_hidden_layers"]
        assert sorted(r.lora.matched_names) == sorted(PROJECTIONS)
        assert (
            item(r, "adapter weights") + item(r, "adapter gradients") + item(r, "adapter optimizer states")
            == 671_088_640
        )  # fp32 adapter + grads + AdamW (theory 6.10)
        assert item(r, "frozen base weights") == PUBLISHED_TOTAL_SIZE
        assert r.frozen_parameters == P


def test_lora_q_v_only_counts_from_shapes() -> None:
    r = run(method="lora", rank=16, lora_targets=["q_proj", "v_proj"])
    expected = 0
    for t in TENSORS:
        if t.name.endswith(("q_proj.weight", "v_proj.weight")):
            out_f, in_f = t.shape
            expected += 16 * (in_f + out_f)
    assert r.trainable_parameters == expected == 6_815_744  # PEFT print_trainable_parameters for Llama-3-8B
    miss = run(method="lora", lora_targets="q_proj,nonexistent")
    assert miss.lora is not None and miss.lora.unmatched_targets == ["nonexistent"]


def test_qlora_base_matches_theory() -> None:
    r = run(method="qlora", rank=16, lora_targets="all-linear")
    linear = sum(t.numel for t in TENSORS if t.name.endswith(tuple(p + ".weight" for p in PROJECTIONS)))
    assert item(r, "QLoRA base NF4 data") == linear // 2 == 3_489_660_928
    assert item(r, "QLoRA base absmax") == linear // 64 + 4 * (linear // 64 // 256) == 109_051_904 + 1_703_936
    assert item(r, "QLoRA base 16-bit tensors") == 2 * (P - linear) == 2_101_878_784
    base = sum(item(r, n) for n in ("QLoRA base NF4 data", "QLoRA base absmax", "QLoRA base 16-bit tensors"))
    assert base == 5_702_295_552  # theory 6.10
    assert r.trainable_parameters == 41_943_040
    plain = run(method="qlora", qlora_double_quant=False)
    assert item(plain, "QLoRA base absmax") == 4 * (linear // 64)


# -------------------------------------------------------------------------------------- activations

S, H, A = 4096, CFG["hidden_size"], CFG["num_attention_heads"]
SBH = S * 1 * H


def test_korthikanti_naive_attention() -> None:
    r = run(activation_formula="korthikanti", flash_attention=False)
    assert r.activations_per_layer_bytes == SBH * (34 + 5 * A * S // H) == 3_254_779_904  # theory 6.10
    assert r.activations_bytes == 32 * 3_254_779_904 == 104_152_956_928
    assert r.flash_lse_per_layer_bytes == 0


def test_selective_recompute_and_flash_drop_the_score_term() -> None:
    sel = run(activation_formula="korthikanti", flash_attention=False, gradient_checkpointing="selective")
    assert sel.activations_per_layer_bytes == 34 * SBH == 570_425_344  # theory 6.10
    assert sel.activations_bytes == 32 * 570_425_344 == 18_253_611_008
    flash = run(activation_formula="korthikanti", flash_attention=True)
    assert flash.activations_per_layer_bytes == 570_425_344
    assert flash.flash_lse_per_layer_bytes == 4 * A * S  # fp32 log-sum-exp per head and row
    assert flash.activations_bytes == 32 * (570_425_344 + 4 * A * S)


def test_llama_style_formula_is_picked_for_swiglu() -> None:
    r = run()  # auto: gate_proj present -> Llama-style
    inter, ratio_h = CFG["intermediate_size"], H * CFG["num_key_value_heads"] // A
    assert r.activations_per_layer_bytes == S * (12 * H + 4 * ratio_h + 8 * inter) == 41 * SBH == 687_865_856
    assert r.activations_bytes == 32 * (687_865_856 + 4 * A * S)


def test_full_checkpointing_keeps_layer_inputs_plus_one_layer() -> None:
    r = run(gradient_checkpointing="full")
    assert r.activations_bytes == 32 * 2 * SBH + 687_865_856 + 4 * A * S  # 1,073,741,824 + one live layer
    assert 32 * 2 * SBH == 1_073_741_824


def test_logits_fp32_and_hf_peak() -> None:
    v = CFG["vocab_size"]
    r = run()
    assert r.logits_bytes == S * v * 4 == 2_101_346_304  # theory 6.10
    assert alt(r, "logits HF peak") == 10 * S * v
    assert run(logits="hf").logits_bytes == 10 * S * v
    assert run(micro_batch=2).logits_bytes == 2 * 2_101_346_304


def test_tensor_and_sequence_parallel() -> None:
    tp_sp = run(
        activation_formula="korthikanti",
        flash_attention=False,
        gpus=8,
        tensor_parallel=8,
        sequence_parallel=True,
    )
    assert tp_sp.activations_per_layer_bytes == 3_254_779_904 // 8
    tp_only = run(activation_formula="korthikanti", flash_attention=False, gpus=8, tensor_parallel=8)
    assert tp_only.activations_per_layer_bytes == SBH * (10 + 24 // 8) + 5 * A * S * S // 8
    assert tp_only.model_states_bytes == 16 * P // 8  # every state split by t (no data parallel left)


def test_kv_heads_are_replicated_in_activations_when_tp_exceeds_them() -> None:
    # tp = 16 > nkv = 8: each GPU keeps one K and one V head (not half of one)
    r = run(gpus=16, tensor_parallel=16, sequence_parallel=False)
    hd, inter = H // A, CFG["intermediate_size"]
    per_gpu = S * (8 * H + (2 * H + 2 * 16 * hd + 2 * 16 * hd + 2 * H + 8 * inter) // 16)
    assert r.activations_per_layer_bytes == per_gpu


# ---------------------------------------------------------------------------------------- options


def test_option_validation() -> None:
    with pytest.raises(ValidationError):
        TrainingOptions(zero=3, fsdp="full_shard")
    with pytest.raises(ValidationError):
        TrainingOptions(gpus=6, tensor_parallel=4)
    with pytest.raises(ValidationError):
        TrainingOptions(sequence_parallel=True)
    with pytest.raises(ValidationError):
        TrainingOptions(rank=0)
    with pytest.raises(ValidationError):
        TrainingOptions(lora_targets="")
    o = TrainingOptions.model_validate({"optimizer": "adamw-bf16", "lora_targets": "q_proj, v_proj"})
    assert (o.optimizer, o.precision, o.lora_targets) == ("adamw", "bf16", ["q_proj", "v_proj"])
