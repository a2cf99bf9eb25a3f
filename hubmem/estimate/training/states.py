"""Model states of a training run: weights, gradients, master weights and optimizer states for a full,
LoRA or QLoRA fine-tune (theory.md section 4), sharded per GPU by ``Sharder``.

``full_model_states`` / ``lora_model_states`` append their breakdown lines and assumptions to the lists
they are given, in the order ``estimate_training`` reports them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hubmem.estimate.training.logical import LogicalTensor
from hubmem.estimate.training.lora import QUANT_STATE_CONSTANTS, is_linear_weight, match_lora, nf4_bytes
from hubmem.estimate.training.optimizers import Precision, describe_optimizer, state_bytes
from hubmem.estimate.training.sharding import label, shard_bytes, shard_degree, stage_of
from hubmem.schema.architecture import Architecture
from hubmem.schema.common import MemoryItem
from hubmem.schema.training import LoRAInfo, TrainingOptions


def fmt(n: int) -> str:
    return f"{n:,}"


def item(name: str, nbytes: int, formula: str) -> MemoryItem:
    return MemoryItem(name=name, bytes=nbytes, formula=formula)


class Sharder:
    def __init__(self, options: TrainingOptions) -> None:
        self.tp = options.tensor_parallel
        self.dp = options.gpus // options.tensor_parallel
        self.stage = stage_of(options.zero, options.fsdp)
        self.degree = shard_degree(options.fsdp, self.dp, options.gpus_per_node)
        self.label = label(options.zero, options.fsdp)

    def __call__(self, nbytes: int, kind: str) -> int:
        return shard_bytes(nbytes, kind, stage=self.stage, degree=self.degree, tp=self.tp)

    def suffix(self, kind: str) -> str:
        parts = []
        if self.tp > 1:
            parts.append(f" / t={self.tp}")
        if self.stage >= {"optimizer": 1, "grads": 2, "weights": 3, "frozen": 3}[kind] and self.degree > 1:
            parts.append(f" / Nd={self.degree} ({self.label})")
        return "".join(parts)


def full_state_bytes(
    trainable: Sequence[LogicalTensor], pr: Precision, options: TrainingOptions
) -> tuple[int, int, int, int]:
    p = sum(t.params for t in trainable)
    states = sum(
        state_bytes(
            options.optimizer, t.shape or (t.params,), pr.state, adafactor_beta1=options.adafactor_beta1
        )
        for t in trainable
    )
    return p * pr.weights, p * pr.grads, p * pr.master, states


@dataclass
class ModelStates:
    """Unsharded bytes of one method's model states, and the (name, bytes) units a ZeRO-3 / FSDP gather
    holds."""

    trainable: int
    frozen_params: int
    weights: int
    grads: int
    master: int
    states: int
    frozen_bytes: int
    gather_items: list[tuple[str, int]] = field(default_factory=list)
    lora: LoRAInfo | None = None


def full_model_states(
    lts: Sequence[LogicalTensor],
    *,
    quant: str | None,
    pr: Precision,
    half: int,
    sh: Sharder,
    options: TrainingOptions,
    breakdown: list[MemoryItem],
    assumptions: list[str],
) -> ModelStates:
    """Full fine-tune: every logical parameter trained at the training precision."""
    params_t = [t for t in lts if not t.buffer]
    buffers = [t for t in lts if t.buffer]
    p_all = sum(t.params for t in params_t)
    buffer_bytes = sum(t.stored_bytes for t in buffers)
    trainable, frozen_params = p_all, 0
    w, g, m, s = full_state_bytes(params_t, pr, options)
    frozen_bytes = buffer_bytes
    if quant is not None:
        assumptions.append(
            f"the checkpoint is quantized ({quant}): a full fine-tune trains the dequantized model, "
            f"{fmt(p_all)} logical parameters at the training precision"
        )
    w_label = {2: "16-bit", 4: "fp32", 6: "fp32 + 16-bit copy"}.get(pr.weights, f"{pr.weights} B")
    breakdown.append(
        item(
            "weights",
            sh(w, "weights"),
            f"{pr.weights} B ({w_label}) x {fmt(p_all)} params" + sh.suffix("weights"),
        )
    )
    breakdown.append(
        item("gradients", sh(g, "grads"), f"{pr.grads} B x {fmt(p_all)} params" + sh.suffix("grads"))
    )
    if m:
        breakdown.append(
            item(
                "fp32 master weights",
                sh(m, "optimizer"),
                f"{pr.master} B x {fmt(p_all)} params" + sh.suffix("optimizer"),
            )
        )
    breakdown.append(
        item(
            "optimizer states",
            sh(s, "optimizer"),
            describe_optimizer(options.optimizer, pr.state, adafactor_beta1=options.adafactor_beta1)
            + sh.suffix("optimizer"),
        )
    )
    if buffer_bytes:
        breakdown.append(
            item(
                "buffers (not trained)",
                sh(buffer_bytes, "frozen"),
                f"{len(buffers)} integer tensors as stored",
            )
        )
    gather_items = [(t.name, t.params * 2 * half) for t in params_t]
    assumptions.append(f"precision: {pr.label}")
    if options.precision == "mixed" and options.optimizer == "adamw":
        assumptions.append(
            f"mixed-precision AdamW: {pr.weights}+{pr.grads}+{pr.master + 8} = "
            f"{pr.weights + pr.grads + pr.master + 8} B/param ({options.accounting} accounting); "
            "ZeRO paper 2+2+12 = 16, HF anatomy 6+4+8 = 18, Megatron 2+4+12 = 18 (see alternatives)"
        )
    return ModelStates(trainable, frozen_params, w, g, m, s, frozen_bytes, gather_items)


def lora_model_states(
    lts: Sequence[LogicalTensor],
    *,
    quant: str | None,
    half: int,
    sh: Sharder,
    options: TrainingOptions,
    arch: Architecture,
    breakdown: list[MemoryItem],
    assumptions: list[str],
    missing: list[str],
) -> ModelStates:
    """LoRA / QLoRA: adapters trained, the base frozen (as stored, at the compute dtype, or in NF4)."""
    params_t = [t for t in lts if not t.buffer]
    buffers = [t for t in lts if t.buffer]
    p_all = sum(t.params for t in params_t)
    buffer_bytes = sum(t.stored_bytes for t in buffers)
    gather_items: list[tuple[str, int]] = []
    match = match_lora(
        params_t,
        options.lora_targets,
        options.rank,
        bias=options.lora_bias,
        experts=options.lora_experts,
        num_experts=arch.num_experts,
    )
    trainable = match.trainable_parameters
    frozen_params = p_all
    lora_info = LoRAInfo(
        rank=options.rank,
        targets=options.lora_targets,
        adapted_modules=len(match.modules),
        matched_names=match.matched_leaves,
        unmatched_targets=match.unmatched_targets,
        trainable_parameters=trainable,
    )
    if not match.modules:
        missing.append(f"LoRA targets {options.lora_targets} matched no Linear weight of this checkpoint")
    if match.unmatched_targets:
        assumptions.append(f"LoRA targets that matched nothing: {', '.join(match.unmatched_targets)}")
    if match.skipped_non_linear:
        assumptions.append(
            f"{len(match.skipped_non_linear)} matched tensors are not 2-D Linear weights, no adapter "
            f"(e.g. {match.skipped_non_linear[0]})"
        )
    if match.skipped_experts:
        assumptions.append(
            f"{match.skipped_experts} routed-expert weights get no adapter (PEFT on transformers >= 5 "
            "holds experts as fused parameters); lora_experts=true adapts each expert"
        )
    if arch.num_experts and any(x.lower() in ("all-linear", "all_linear") for x in options.lora_targets):
        assumptions.append("all-linear skips MoE routers ([num_experts, hidden] gate/router weights)")
    aw = 4 if options.adapter_dtype == "fp32" else 2
    w, g = trainable * aw, trainable * aw
    s = sum(
        state_bytes(options.optimizer, shape, aw, adafactor_beta1=options.adafactor_beta1)
        for shape in match.adapter_shapes
    )
    breakdown.append(
        item(
            "adapter weights",
            sh(w, "weights"),
            f"{aw} B ({options.adapter_dtype}) x {fmt(trainable)} LoRA params = r*(in+out), "
            f"r={options.rank}, over {len(match.modules)} Linear layers" + sh.suffix("weights"),
        )
    )
    breakdown.append(
        item("adapter gradients", sh(g, "grads"), f"{aw} B x {fmt(trainable)}" + sh.suffix("grads"))
    )
    breakdown.append(
        item(
            "adapter optimizer states",
            sh(s, "optimizer"),
            describe_optimizer(options.optimizer, aw, adafactor_beta1=options.adafactor_beta1)
            + sh.suffix("optimizer"),
        )
    )
    assumptions.append(
        f"LoRA adapters in {options.adapter_dtype} (PEFT default: fp32 adapters on a 16-bit base); "
        "frozen weights have no gradients or optimizer states"
    )
    if options.method == "lora":
        if quant is not None:
            frozen_bytes = sum(t.stored_bytes for t in lts)
            formula = f"frozen base as stored ({quant}), exact bytes incl. scales"
        else:
            frozen_bytes = p_all * half + buffer_bytes
            formula = f"{half} B x {fmt(p_all)} params (base loaded at the compute dtype)"
        breakdown.append(
            item("frozen base weights", sh(frozen_bytes, "frozen"), formula + sh.suffix("frozen"))
        )
        gather_items = [(t.name, t.params * half) for t in params_t]
    else:  # qlora
        q_params = q_data = q_absmax = q_tensors = other_params = 0
        for t in params_t:
            if is_linear_weight(t):
                data, absmax = nf4_bytes(t.params, double_quant=options.qlora_double_quant)
                q_params, q_data, q_absmax, q_tensors = (
                    q_params + t.params,
                    q_data + data,
                    q_absmax + absmax,
                    q_tensors + 1,
                )
                gather_items.append((t.name, data + absmax))
            else:
                other_params += t.params
                gather_items.append((t.name, t.params * 2))
        consts = q_tensors * QUANT_STATE_CONSTANTS
        absmax_rule = (
            "absmax uint8 per 64-block + fp32 per 256 blocks (double quant)"
            if options.qlora_double_quant
            else "absmax fp32 per 64-block"
        )
        breakdown.append(
            item(
                "QLoRA base NF4 data",
                sh(q_data, "frozen"),
                f"(n+1)//2 B over {q_tensors} Linear weights, {fmt(q_params)} params" + sh.suffix("frozen"),
            )
        )
        breakdown.append(item("QLoRA base absmax", sh(q_absmax, "frozen"), absmax_rule + sh.suffix("frozen")))
        breakdown.append(
            item(
                "QLoRA base 16-bit tensors",
                sh(other_params * 2, "frozen"),
                f"2 B x {fmt(other_params)} params (embeddings, norms, head stay 16-bit)"
                + sh.suffix("frozen"),
            )
        )
        breakdown.append(
            item(
                "QLoRA quant-state constants",
                sh(consts, "frozen"),
                f"{q_tensors} x {QUANT_STATE_CONSTANTS} B (NF4 code, nested code, offset)",
            )
        )
        if buffer_bytes:
            breakdown.append(
                item(
                    "buffers (not trained)",
                    sh(buffer_bytes, "frozen"),
                    f"{len(buffers)} integer tensors as stored",
                )
            )
        frozen_bytes = q_data + q_absmax + other_params * 2 + consts + buffer_bytes
        assumptions.append(
            "QLoRA: every 2-D Linear weight but embeddings and the head in bitsandbytes NF4 "
            "(blocksize 64); "
            "the base is re-quantized from its logical parameters whatever the checkpoint's own format"
        )
        if arch.num_experts:
            assumptions.append(
                "QLoRA on MoE: routed experts counted in NF4 as per-expert Linear weights (checkpoint "
                "layout); fused 3-D expert parameters (transformers >= 5) may stay 16-bit"
            )
    return ModelStates(trainable, frozen_params, w, g, 0, s, frozen_bytes, gather_items, lora_info)
