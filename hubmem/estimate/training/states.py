"""Model states of a training run, unsharded: weights, gradients, master weights and optimizer states of a
full, LoRA or QLoRA fine-tune (docs/theory.md section 4).

Everything here is independent of the GPU count: each breakdown line is a :class:`StateItem` that says
which kind of state it is, and :class:`~hubmem.estimate.training.sharding.Sharder` turns it into per-GPU
bytes for any ZeRO / FSDP / tensor-parallel layout.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from hubmem.estimate.training.logical import LogicalTensor
from hubmem.estimate.training.lora import (
    QUANT_STATE_CONSTANTS,
    LoRAMatch,
    is_linear_weight,
    match_lora,
    nf4_bytes,
)
from hubmem.estimate.training.optimizers import Precision, describe_optimizer, state_bytes
from hubmem.estimate.training.prepare import PreparedModel
from hubmem.schema.training import LoRAInfo, TrainingOptions

StateKind = str  # "weights" | "grads" | "optimizer" | "frozen": the ZeRO stage that first partitions it


def fmt(n: int) -> str:
    return f"{n:,}"


class StateItem(msgspec.Struct, frozen=True):
    """One breakdown line before sharding."""

    name: str
    nbytes: int  # unsharded
    kind: StateKind
    formula: str
    sharding_in_formula: bool = True  # append the "/ t=.. / Nd=.." sharding to the formula


class ModelStates(msgspec.Struct):
    """Unsharded bytes of one method's model states, their breakdown lines, and the (name, bytes) units a
    ZeRO-3 / FSDP gather holds."""

    trainable: int
    frozen_params: int
    weights: int
    grads: int
    master: int
    states: int
    frozen_bytes: int
    items: list[StateItem] = []
    # (member names, bytes each) per logical group: listed name by name only when a gather is sized
    gather: list[tuple[tuple[str, ...], int]] = []
    lora: LoRAInfo | None = None
    assumptions: list[str] = []
    missing: list[str] = []

    @property
    def gather_items(self) -> list[tuple[str, int]]:
        """The (name, bytes) units a ZeRO-3 / FSDP gather holds, tensor by tensor."""
        return [(name, nbytes) for names, nbytes in self.gather for name in names]


def full_state_bytes(
    trainable: Sequence[LogicalTensor], pr: Precision, options: TrainingOptions
) -> tuple[int, int, int, int]:
    """(weights, gradients, master copy, optimizer states) bytes of training every tensor of ``trainable``."""
    p = sum(t.total_params for t in trainable)
    states = sum(
        t.count
        * state_bytes(
            options.optimizer, t.shape or (t.params,), pr.state, adafactor_beta1=options.adafactor_beta1
        )
        for t in trainable
    )
    return p * pr.weights, p * pr.grads, p * pr.master, states


def _buffers_item(model: PreparedModel) -> list[StateItem]:
    if not model.buffer_bytes:
        return []
    text = f"{sum(t.count for t in model.buffers)} buffers as stored (integer tensors, causal masks)"
    return [StateItem("buffers (not trained)", model.buffer_bytes, "frozen", text, False)]


def full_model_states(
    model: PreparedModel, options: TrainingOptions, pr: Precision, half: int
) -> ModelStates:
    """Full fine-tune: every logical parameter trained at the training precision."""
    p_all = model.parameters
    w, g, m, s = full_state_bytes(model.params, pr, options)
    ms = ModelStates(p_all, 0, w, g, m, s, model.buffer_bytes)
    if model.quant is not None:
        ms.assumptions.append(
            f"the checkpoint is quantized ({model.quant}): a full fine-tune trains the dequantized model, "
            f"{fmt(p_all)} logical parameters at the training precision"
        )
    w_label = {2: "16-bit", 4: "fp32", 6: "fp32 + 16-bit copy"}.get(pr.weights, f"{pr.weights} B")
    ms.items.append(StateItem("weights", w, "weights", f"{pr.weights} B ({w_label}) x {fmt(p_all)} params"))
    ms.items.append(StateItem("gradients", g, "grads", f"{pr.grads} B x {fmt(p_all)} params"))
    if m:
        ms.items.append(
            StateItem("fp32 master weights", m, "optimizer", f"{pr.master} B x {fmt(p_all)} params")
        )
    optimizer = describe_optimizer(options.optimizer, pr.state, adafactor_beta1=options.adafactor_beta1)
    ms.items.append(StateItem("optimizer states", s, "optimizer", optimizer))
    ms.items.extend(_buffers_item(model))
    ms.gather = [(t.members, t.params * 2 * half) for t in model.params]
    ms.assumptions.append(f"precision: {pr.label}")
    if options.precision == "mixed" and options.optimizer == "adamw":
        ms.assumptions.append(
            f"mixed-precision AdamW: {pr.weights}+{pr.grads}+{pr.master + 8} = "
            f"{pr.weights + pr.grads + pr.master + 8} B/param ({options.accounting} accounting); "
            "ZeRO paper 2+2+12 = 16, HF anatomy 6+4+8 = 18, Megatron 2+4+12 = 18 (see alternatives)"
        )
    return ms


def _lora_notes(match: LoRAMatch, model: PreparedModel, options: TrainingOptions, ms: ModelStates) -> None:
    if not match.adapted:
        ms.missing.append(f"LoRA targets {options.lora_targets} matched no Linear weight of this checkpoint")
    if match.unmatched_targets:
        ms.assumptions.append(f"LoRA targets that matched nothing: {', '.join(match.unmatched_targets)}")
    if match.skipped_non_linear:
        ms.assumptions.append(
            f"{len(match.skipped_non_linear)} matched tensors are not 2-D Linear weights, no adapter "
            f"(e.g. {match.skipped_non_linear[0]})"
        )
    if match.skipped_experts:
        ms.assumptions.append(
            f"{match.skipped_experts} routed-expert weights get no adapter (PEFT on transformers >= 5 "
            "holds experts as fused parameters); lora_experts=true adapts each expert"
        )
    if model.arch.num_experts and any(
        x.lower() in ("all-linear", "all_linear") for x in options.lora_targets
    ):
        ms.assumptions.append("all-linear skips MoE routers ([num_experts, hidden] gate/router weights)")


def lora_model_states(model: PreparedModel, options: TrainingOptions, half: int) -> ModelStates:
    """LoRA / QLoRA: adapters trained, the base frozen (as stored, at the compute dtype, or in NF4)."""
    match = match_lora(
        model.params,
        options.lora_targets,
        options.rank,
        bias=options.lora_bias,
        experts=options.lora_experts,
        num_experts=model.arch.num_experts,
    )
    trainable = match.trainable_parameters
    aw = 4 if options.adapter_dtype == "fp32" else 2
    s = sum(
        n * state_bytes(options.optimizer, shape, aw, adafactor_beta1=options.adafactor_beta1)
        for shape, n in match.adapter_shapes.items()
    )
    ms = ModelStates(trainable, model.parameters, trainable * aw, trainable * aw, 0, s, 0)
    ms.lora = LoRAInfo(
        rank=options.rank,
        targets=options.lora_targets,
        adapted_modules=match.adapted,
        matched_names=match.matched_leaves,
        unmatched_targets=match.unmatched_targets,
        trainable_parameters=trainable,
    )
    _lora_notes(match, model, options, ms)
    adapters = (
        f"{aw} B ({options.adapter_dtype}) x {fmt(trainable)} LoRA params = r*(in+out), "
        f"r={options.rank}, over {match.adapted} Linear layers"
    )
    optimizer = describe_optimizer(options.optimizer, aw, adafactor_beta1=options.adafactor_beta1)
    ms.items.append(StateItem("adapter weights", ms.weights, "weights", adapters))
    ms.items.append(StateItem("adapter gradients", ms.grads, "grads", f"{aw} B x {fmt(trainable)}"))
    ms.items.append(StateItem("adapter optimizer states", s, "optimizer", optimizer))
    ms.assumptions.append(
        f"LoRA adapters in {options.adapter_dtype} (PEFT default: fp32 adapters on a 16-bit base); "
        "frozen weights have no gradients or optimizer states"
    )
    if options.method == "lora":
        _lora_base(model, half, ms)
    else:
        _qlora_base(model, options, ms)
    return ms


def _lora_base(model: PreparedModel, half: int, ms: ModelStates) -> None:
    """The frozen base of plain LoRA: as stored when quantized, else at the compute dtype."""
    if model.quant is not None:
        ms.frozen_bytes = sum(t.stored_bytes for t in model.tensors)
        formula = f"frozen base as stored ({model.quant}), exact bytes incl. scales"
    else:
        ms.frozen_bytes = model.parameters * half + model.buffer_bytes
        formula = f"{half} B x {fmt(model.parameters)} params (base loaded at the compute dtype)"
    ms.items.append(StateItem("frozen base weights", ms.frozen_bytes, "frozen", formula))
    ms.gather = [(t.members, t.params * half) for t in model.params]


def _qlora_base(model: PreparedModel, options: TrainingOptions, ms: ModelStates) -> None:
    """The frozen base of QLoRA: every 2-D Linear weight re-quantized to bitsandbytes NF4."""
    q_params = q_data = q_absmax = q_tensors = other_params = 0
    for t in model.params:
        n = t.count
        if is_linear_weight(t):
            data, absmax = nf4_bytes(t.params, double_quant=options.qlora_double_quant)
            q_params, q_data, q_absmax = q_params + n * t.params, q_data + n * data, q_absmax + n * absmax
            q_tensors += n
            ms.gather.append((t.members, data + absmax))
        else:
            other_params += n * t.params
            ms.gather.append((t.members, t.params * 2))
    consts = q_tensors * QUANT_STATE_CONSTANTS
    absmax_rule = (
        "absmax uint8 per 64-block + fp32 per 256 blocks (double quant)"
        if options.qlora_double_quant
        else "absmax fp32 per 64-block"
    )
    ms.items += [
        StateItem(
            "QLoRA base NF4 data",
            q_data,
            "frozen",
            f"(n+1)//2 B over {q_tensors} Linear weights, {fmt(q_params)} params",
        ),
        StateItem("QLoRA base absmax", q_absmax, "frozen", absmax_rule),
        StateItem(
            "QLoRA base 16-bit tensors",
            other_params * 2,
            "frozen",
            f"2 B x {fmt(other_params)} params (embeddings, norms, head stay 16-bit)",
        ),
        StateItem(
            "QLoRA quant-state constants",
            consts,
            "frozen",
            f"{q_tensors} x {QUANT_STATE_CONSTANTS} B (NF4 code, nested code, offset)",
            False,
        ),
        *_buffers_item(model),
    ]
    ms.frozen_bytes = q_data + q_absmax + other_params * 2 + consts + model.buffer_bytes
    ms.assumptions.append(
        "QLoRA: every 2-D Linear weight but embeddings and the head in bitsandbytes NF4 (blocksize 64); "
        "the base is re-quantized from its logical parameters whatever the checkpoint's own format"
    )
    if model.arch.num_experts:
        ms.assumptions.append(
            "QLoRA on MoE: routed experts counted in NF4 as per-expert Linear weights (checkpoint "
            "layout); fused 3-D expert parameters (transformers >= 5) may stay 16-bit"
        )
