"""Training memory projected from the real tensor list (docs/theory.md section 4).

Three steps, each done once for what it depends on:

* :func:`~hubmem.estimate.training.prepare.prepare_training` (per checkpoint): the logical tensors -
  packed quantized weights unpacked to their logical shape, auxiliary tensors (scales, zeros, absmax ...)
  folded into their module, so per-tensor rules (8-bit Adam's ``min_8bit_size``, Adafactor's row/column
  factors, LoRA's ``r * (in + out)``, the largest ZeRO-3 / FSDP unit) see the real shapes;
* :func:`plan_training` (per option set): unsharded model states, activations and logits;
* :func:`project_training` (per GPU count): the states sharded per GPU, and the report.

A full fine-tune of a quantized checkpoint trains the *dequantized* model: its logical parameters at the
training precision (the packed bytes play no part). Every figure is per GPU and per micro-batch, and
carries its formula (``MemoryItem.formula``); what is assumed is listed in ``TrainingReport.assumptions``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cached_property

import msgspec

from hubmem.estimate.training.activations import Activations, estimate_activations
from hubmem.estimate.training.optimizers import Precision, precision_bytes
from hubmem.estimate.training.prepare import PreparedModel, prepare_training
from hubmem.estimate.training.sharding import Sharder, largest_module, largest_unit
from hubmem.estimate.training.states import (
    ModelStates,
    fmt,
    full_model_states,
    full_state_bytes,
    lora_model_states,
)
from hubmem.formats.safetensors import Tensor
from hubmem.schema.architecture import Architecture
from hubmem.schema.common import MemoryItem
from hubmem.schema.training import TrainingOptions, TrainingReport
from hubmem.schema.weights import WeightsReport

_ACCOUNTINGS = {"zero": "ZeRO paper 2+2+12", "hf": "HF anatomy 6+4+8", "megatron": "Megatron 2+4+12"}


def item(name: str, nbytes: int, formula: str) -> MemoryItem:
    return MemoryItem(name=name, bytes=nbytes, formula=formula)


class TrainingPlan(msgspec.Struct, dict=True):  # dict: the cached properties below
    """One option set on one checkpoint, for any GPU count."""

    model: PreparedModel
    options: TrainingOptions
    precision: Precision
    states: ModelStates
    activations: Activations
    assumptions: list[str]  # before the states' own
    missing: list[str]

    @cached_property
    def largest_module(self) -> tuple[str, int]:
        return largest_module(self.states.gather_items)

    @cached_property
    def largest_unit(self) -> tuple[str, int]:
        return largest_unit(self.states.gather_items)


def plan_training(model: PreparedModel, options: TrainingOptions) -> TrainingPlan:
    """Unsharded model states, activations and logits of ``options`` on ``model``."""
    arch = model.arch
    pr = precision_bytes(options.precision, options.accounting)
    half = 4 if options.precision == "fp32" else 2  # bytes of a frozen / gathered weight at compute precision
    assumptions: list[str] = []
    missing: list[str] = []
    p_all = model.parameters
    if model.weights_parameters and model.weights_parameters not in (
        p_all,
        p_all + sum(t.total_params for t in model.buffers),
    ):
        assumptions.append(
            f"per-tensor unpacking gives {fmt(p_all)} logical parameters, the weights section "
            f"{fmt(model.weights_parameters)}: per-tensor figures use the former"
        )
    if arch.max_context and options.seq_len > arch.max_context:
        assumptions.append(
            f"seq_len {options.seq_len} exceeds the model's maximum context {arch.max_context}; "
            "activations are projected for seq_len anyway"
        )
    if any(t.shape is None for t in model.params):
        missing.append("some packed tensors have no recoverable shape: treated as 1-D for per-tensor rules")
    if options.method == "full":
        states = full_model_states(model, options, pr, half)
    else:
        states = lora_model_states(model, options, half)
    act = estimate_activations(arch, options, gated_mlp=model.gated_mlp, act_bytes=half)
    return TrainingPlan(model, options, pr, states, act, assumptions, missing)


def _model_states_per_gpu(plan: TrainingPlan, sh: Sharder) -> tuple[int, int, int, int]:
    """(weights incl. frozen, gradients, optimizer incl. master, all) bytes per GPU."""
    ms = plan.states
    w_gpu, g_gpu, f_gpu = sh(ms.weights, "weights"), sh(ms.grads, "grads"), sh(ms.frozen_bytes, "frozen")
    o_gpu = sh(ms.master, "optimizer") + sh(ms.states, "optimizer")
    return w_gpu + f_gpu, g_gpu, o_gpu, w_gpu + g_gpu + o_gpu + f_gpu


def _gathered(plan: TrainingPlan, sh: Sharder) -> tuple[int, MemoryItem | None]:
    """ZeRO-3 / FSDP FULL_SHARD: the unsharded unit being computed."""
    if sh.stage < 3 or sh.degree <= 1:
        return 0, None
    if plan.options.fsdp == "none":
        unit, unit_bytes = plan.largest_module
        rule = "DeepSpeed stage3: 16-bit params + grads of the largest module (4 x largest_layer_params)"
    else:
        unit, unit_bytes = plan.largest_unit
        rule = "FSDP: unsharded 16-bit params (+ grads) of the largest wrapped unit (decoder layer or root)"
    gathered = -(-unit_bytes // sh.tp)
    return gathered, item("gathered unit", gathered, f"{rule}: {unit}")


def per_gpu_bytes(plan: TrainingPlan, gpus: int) -> int:
    """The per-GPU total of ``plan`` on ``gpus`` GPUs (what the fit solver compares)."""
    sh = Sharder(plan.options, gpus)
    return _model_states_per_gpu(plan, sh)[3] + _gathered(plan, sh)[0] + plan.activations.total_bytes


def _breakdown(plan: TrainingPlan, sh: Sharder, gathered: MemoryItem | None) -> list[MemoryItem]:
    out = [
        item(s.name, sh(s.nbytes, s.kind), s.formula + (sh.suffix(s.kind) if s.sharding_in_formula else ""))
        for s in plan.states.items
    ]
    if gathered is not None:
        out.append(gathered)
    act = plan.activations
    if act.layers_bytes:
        out.append(item("activations", act.layers_bytes, act.formula))
    if act.logits_bytes:
        fp32 = plan.options.logits == "fp32"
        text = "s*b*V*4 (fp32 logits for the loss)" if fp32 else "(2 + 4 + 4)*s*b*V (HF peak)"
        out.append(item("loss logits", act.logits_bytes, text))
    return out


def _accounting_alternatives(plan: TrainingPlan, sh: Sharder, frozen_gpu: int) -> list[MemoryItem]:
    """The same model states under the other published mixed-precision AdamW accountings."""
    out = []
    for acc, text in _ACCOUNTINGS.items():
        if acc == plan.options.accounting:
            continue
        apr = precision_bytes("mixed", acc)
        aw, ag, am, as_ = full_state_bytes(plan.model.params, apr, plan.options)
        total = sh(aw, "weights") + sh(ag, "grads") + sh(am, "optimizer") + sh(as_, "optimizer") + frozen_gpu
        out.append(item(f"model states, {text}", total, f"{apr.label}{sh.suffix('optimizer')}"))
    return out


def _estimator_alternatives(plan: TrainingPlan, sh: Sharder, gpus: int) -> list[MemoryItem]:
    """What DeepSpeed's, Megatron's and accelerate's own estimators print for the same model."""
    p_all, n, out = plan.model.parameters, sh.degree, []
    if (sh.tp == 1 and sh.stage == 2) or (gpus == 1 and sh.stage == 0):
        text = f"2P + int(18P/N), N={n} (stage_1_and_2.py; older docs: 4P + 16P/N)"
        out.append(item("DeepSpeed estimate_zero2_model_states_mem_needs", 2 * p_all + 18 * p_all // n, text))
    if sh.tp == 1 and sh.stage == 3 and plan.options.fsdp == "none":
        big_name, big = largest_module((n, t.params) for t in plan.model.params for n in t.members)
        text = f"4 x largest_layer_params ({big_name}: {fmt(big)}) + int(18P/N), N={n} (stage3.py)"
        out.append(item("DeepSpeed estimate_zero3_model_states_mem_needs", 4 * big + 18 * p_all // n, text))
    if sh.dp > 1:
        text = f"(6 + 12/dp) x P, dp={sh.dp} (theoretical_memory_usage.py)"
        out.append(item("Megatron distributed optimizer", math.ceil((6 + 12 / sh.dp) * p_all / sh.tp), text))
    if gpus == 1:
        text = "max(model 4P, grads 6P, optimizer 8P) for a 16-bit model (accelerate estimate.py)"
        out.append(item("accelerate estimate-memory (max component, not a sum)", 8 * p_all, text))
    return out


def _alternatives(plan: TrainingPlan, sh: Sharder, gpus: int) -> list[MemoryItem]:
    out = [item(*plan.activations.logits_alternative)] if plan.activations.logits_alternative else []
    o = plan.options
    if o.method == "full" and o.optimizer == "adamw" and o.precision == "mixed":
        out += _accounting_alternatives(plan, sh, sh(plan.states.frozen_bytes, "frozen"))
        out += _estimator_alternatives(plan, sh, gpus)
    return out


def project_training(plan: TrainingPlan, gpus: int | None = None) -> TrainingReport:
    """The report of ``plan`` on ``gpus`` GPUs (default: the options' own count)."""
    o = plan.options
    gpus = o.gpus if gpus is None else gpus
    sh = Sharder(o, gpus)
    weights_gpu, grads_gpu, optimizer_gpu, model_states = _model_states_per_gpu(plan, sh)
    gathered, gathered_item = _gathered(plan, sh)
    act, ms = plan.activations, plan.states
    assumptions = [*plan.assumptions, *ms.assumptions]
    if gathered_item is not None:
        assumptions.append("FSDP/ZeRO-3 prefetch of the next unit can hold a second unit; not counted")
    assumptions += [
        *act.assumptions,
        "per-GPU total excludes the CUDA context (~1-2 GB), NCCL buffers and allocator fragmentation",
    ]
    return TrainingReport(
        method=o.method,
        optimizer=o.optimizer,
        precision=o.precision,
        gpus=gpus,
        data_parallel=sh.dp,
        tensor_parallel=sh.tp,
        sharding=sh.label,
        trainable_parameters=ms.trainable,
        frozen_parameters=ms.frozen_params,
        weights_bytes=weights_gpu,
        gradients_bytes=grads_gpu,
        optimizer_bytes=optimizer_gpu,
        gathered_bytes=gathered,
        model_states_bytes=model_states,
        activations_bytes=act.layers_bytes,
        activations_per_layer_bytes=act.formula_bytes,
        flash_lse_per_layer_bytes=act.lse_bytes,
        logits_bytes=act.logits_bytes,
        per_gpu_bytes=model_states + gathered + act.total_bytes,
        seq_len=o.seq_len,
        micro_batch=o.micro_batch,
        lora=ms.lora,
        breakdown=_breakdown(plan, sh, gathered_item),
        alternatives=_alternatives(plan, sh, gpus),
        assumptions=assumptions,
        missing=[*plan.missing, *ms.missing, *act.missing],
    )


def estimate_training(
    weights: WeightsReport, tensors: Sequence[Tensor], arch: Architecture, options: TrainingOptions
) -> TrainingReport:
    """Projected training memory per GPU for ``options``: prepare, plan and project in one call."""
    return project_training(plan_training(prepare_training(weights, tensors, arch), options))


def replace_gpus(plan: TrainingPlan, gpus: int) -> TrainingPlan:
    """The same plan on another GPU count (nothing is recomputed: the plan does not depend on it)."""
    return msgspec.structs.replace(plan, options=plan.options.model_copy(update={"gpus": gpus}))
