"""The training options (hubmem.schema.training.TrainingOptions) on the command line, each under one name,
with the names transformers, TRL and PEFT users type as aliases: ``--per-device-train-batch-size`` =
``--micro-batch``, ``--max-seq-length`` = ``--seq-len``, ``--lora-r`` = ``--rank``, ``--target-modules`` =
``--lora-targets``, ``--optim`` = ``--optimizer`` (transformers' optimizer names),
``--gradient-checkpointing`` alone = full."""

from __future__ import annotations

from typing import Any, get_args

import click

from hubmem.schema.common import SHORT_DTYPES
from hubmem.schema.training import (
    HF_OPTIMIZERS,
    Accounting,
    ActivationFormula,
    Checkpointing,
    FSDPStrategy,
    LogitsMode,
    Optimizer,
    Precision,
    TrainingMethod,
)

_PRECISIONS = [*get_args(Precision), "bfloat16", "float32"]
_OPTIMIZERS = [*get_args(Optimizer), "adamw-fp32", "adamw-bf16", *HF_OPTIMIZERS[:-2]]
_DTYPES = ["fp32", "bf16", "float32", "bfloat16"]

TRAINING_OPTIONS = (
    click.option(
        "--train",
        "train_method",
        type=click.Choice(get_args(TrainingMethod)),
        default=None,
        help="Training method to project [full]; with --gpu, the verdict is for training.",
    ),
    click.option(
        "--optimizer",
        "--optim",
        "optimizer",
        type=click.Choice(_OPTIMIZERS),
        default="adamw",
        show_default=True,
        help="adamw = mixed-precision AdamW (2+2+12 B/param); --optim takes transformers' names too "
        "(adamw_torch, adamw_bnb_8bit, paged_adamw_8bit = adamw-8bit).",
    ),
    click.option(
        "--precision",
        type=click.Choice(_PRECISIONS),
        default="mixed",
        show_default=True,
        help="mixed: 16-bit weights and grads + fp32 master copy; fp32/float32; bf16/bfloat16: pure bf16.",
    ),
    click.option(
        "--rank",
        "--lora-r",
        "rank",
        type=click.IntRange(min=1),
        default=16,
        show_default=True,
        help="LoRA rank r (PEFT's r).",
    ),
    click.option(
        "--lora-targets",
        "--target-modules",
        "lora_targets",
        default="all-linear",
        show_default=True,
        help="LoRA target modules, PEFT's matching: q_proj,v_proj ... or all-linear.",
    ),
    click.option(
        "--zero",
        type=click.Choice(["0", "1", "2", "3"]),
        default="0",
        show_default=True,
        help="DeepSpeed ZeRO stage.",
    ),
    click.option(
        "--fsdp",
        type=click.Choice(get_args(FSDPStrategy)),
        default="none",
        show_default=True,
        help="PyTorch FSDP sharding strategy (instead of ZeRO).",
    ),
    click.option(
        "--micro-batch",
        "--per-device-train-batch-size",
        "micro_batch",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        help="Sequences per GPU per step.",
    ),
    click.option(
        "--seq-len",
        "--max-seq-length",
        "seq_len",
        type=click.IntRange(min=1),
        default=4096,
        show_default=True,
        help="Training tokens per sequence.",
    ),
    click.option(
        "--checkpointing",
        "--gradient-checkpointing",
        "checkpointing",
        type=click.Choice([*get_args(Checkpointing), "true", "false"]),
        is_flag=False,
        flag_value="full",
        default=None,
        help="Activation (gradient) checkpointing: none | selective | full; alone = full [none; qlora: full, "
        "as PEFT's QLoRA recipes].",
    ),
    click.option(
        "--gpus", type=click.IntRange(min=1), default=None, help="GPUs (TP / sharding) [1; -tp x -pp]."
    ),
)
# the rest of TrainingOptions, for experts (same names as the service's query parameters)
ADVANCED_TRAINING_OPTIONS = (
    click.option(
        "--accounting",
        type=click.Choice(get_args(Accounting)),
        default="zero",
        show_default=True,
        help="Mixed-precision split: zero = 2+2+12, hf = 6+4+8, megatron = 2+4+12 B/param.",
    ),
    click.option(
        "--activation-formula",
        type=click.Choice(get_args(ActivationFormula)),
        default="auto",
        show_default=True,
        help="Activation memory formula (korthikanti: Megatron's; llama: derived for Llama-style MLPs).",
    ),
    click.option(
        "--logits",
        type=click.Choice(get_args(LogitsMode)),
        default="fp32",
        show_default=True,
        help="Loss logits: fp32 s*b*V*4, or hf: the peak of transformers' causal-LM heads.",
    ),
    click.option("--adafactor-beta1", is_flag=True, help="Adafactor keeps exp_avg (beta1 set)."),
    click.option(
        "--adapter-dtype",
        type=click.Choice(_DTYPES),
        default="fp32",
        show_default=True,
        help="LoRA adapter weights' dtype.",
    ),
    click.option("--lora-bias", is_flag=True, help="LoRA with bias (PEFT bias='lora_only')."),
    click.option("--lora-experts", is_flag=True, help="LoRA on routed MoE experts too."),
    click.option(
        "--qlora-double-quant/--no-qlora-double-quant",
        default=True,
        show_default=True,
        help="QLoRA: bitsandbytes double quantization of the scales.",
    ),
    click.option("--sequence-parallel", is_flag=True, help="Megatron sequence parallelism (with -tp > 1)."),
    click.option(
        "--gpus-per-node",
        type=click.IntRange(min=1),
        default=8,
        show_default=True,
        help="FSDP hybrid_shard shards within a node.",
    ),
    click.option(
        "--flash-attention/--no-flash-attention",
        default=True,
        show_default=True,
        help="FlashAttention (no s x s attention scores kept).",
    ),
)


def training_fields(kw: dict[str, Any], gpus: int, tensor_parallel: int) -> dict[str, Any]:
    """The TrainingOptions fields from the command's options."""
    fields = {
        "method": kw["train_method"] or "full",
        "optimizer": kw["optimizer"],
        "precision": SHORT_DTYPES.get(kw["precision"], kw["precision"]),
        "rank": kw["rank"],
        "lora_targets": kw["lora_targets"],
        "zero": int(kw["zero"]),
        "fsdp": kw["fsdp"],
        "tensor_parallel": tensor_parallel,
        "micro_batch": kw["micro_batch"],
        "seq_len": kw["seq_len"],
        "gpus": gpus,
        "accounting": kw["accounting"],
        "activation_formula": kw["activation_formula"],
        "logits": kw["logits"],
        "adafactor_beta1": kw["adafactor_beta1"],
        "adapter_dtype": kw["adapter_dtype"],
        "lora_bias": kw["lora_bias"],
        "lora_experts": kw["lora_experts"],
        "qlora_double_quant": kw["qlora_double_quant"],
        "sequence_parallel": kw["sequence_parallel"],
        "gpus_per_node": kw["gpus_per_node"],
        "flash_attention": kw["flash_attention"],
    }
    if kw["checkpointing"] is not None:  # else the schema's default (none; full for qlora)
        fields["gradient_checkpointing"] = kw["checkpointing"]
    return fields
