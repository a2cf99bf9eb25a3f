"""Training memory projected from the real tensor list (theory.md section 4).

``estimate_training(weights, tensors, arch, options)`` works on the checkpoint's *logical* tensors: packed
quantized weights are unpacked to their logical shape and auxiliary tensors (scales, zeros, absmax ...)
are folded into the module they belong to, so per-tensor rules (8-bit Adam's ``min_8bit_size``,
Adafactor's row/column factors, LoRA's ``r * (in + out)``, the largest ZeRO-3 / FSDP unit) see the real
shapes. A full fine-tune of a quantized checkpoint trains the *dequantized* model: its logical
parameters at the training precision (the packed bytes play no part).

Every figure is per GPU and per micro-batch, and carries its formula (``MemoryItem.formula``); what is
assumed is listed in ``TrainingReport.assumptions``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hubmem.estimate.training.activations import estimate_activations
from hubmem.estimate.training.logical import LogicalTensor, logical_tensors, quant_kind
from hubmem.estimate.training.optimizers import precision_bytes
from hubmem.estimate.training.sharding import largest_module, largest_unit
from hubmem.estimate.training.states import (
    Sharder,
    fmt,
    full_model_states,
    full_state_bytes,
    item,
    lora_model_states,
)
from hubmem.formats.safetensors import Tensor
from hubmem.schema.architecture import Architecture
from hubmem.schema.common import MemoryItem
from hubmem.schema.training import TrainingOptions, TrainingReport
from hubmem.schema.weights import WeightsReport


def _is_gated(tensors: Sequence[LogicalTensor]) -> bool:
    return any(
        "gate_proj" in t.name or "gate_up_proj" in t.name or ".w3." in t.name or "up_proj" in t.name
        for t in tensors
    )


def estimate_training(
    weights: WeightsReport, tensors: list[Tensor], arch: Architecture, options: TrainingOptions
) -> TrainingReport:
    """Projected training memory per GPU for ``options`` (theory.md section 4)."""
    quant, bits = quant_kind(weights, arch)
    lts = logical_tensors(tensors, quant=quant, bits=bits, arch=arch)
    params_t = [t for t in lts if not t.buffer]
    buffers = [t for t in lts if t.buffer]
    p_all = sum(t.params for t in params_t)
    assumptions: list[str] = []
    missing: list[str] = []
    sh = Sharder(options)
    pr = precision_bytes(options.precision, options.accounting)
    act_bytes = 4 if options.precision == "fp32" else 2
    half = 4 if options.precision == "fp32" else 2  # bytes of a frozen / gathered weight at compute precision

    if weights.parameters and weights.parameters not in (p_all, p_all + sum(t.params for t in buffers)):
        assumptions.append(
            f"per-tensor unpacking gives {fmt(p_all)} logical parameters, the weights section "
            f"{fmt(weights.parameters)}: per-tensor figures use the former"
        )
    if arch.max_context and options.seq_len > arch.max_context:
        assumptions.append(
            f"seq_len {options.seq_len} exceeds the model's maximum context {arch.max_context}; "
            "activations are projected for seq_len anyway"
        )
    if any(t.shape is None for t in params_t):
        missing.append("some packed tensors have no recoverable shape: treated as 1-D for per-tensor rules")

    breakdown: list[MemoryItem] = []
    alternatives: list[MemoryItem] = []

    if options.method == "full":
        ms = full_model_states(
            lts,
            quant=quant,
            pr=pr,
            half=half,
            sh=sh,
            options=options,
            breakdown=breakdown,
            assumptions=assumptions,
        )
    else:
        ms = lora_model_states(
            lts,
            quant=quant,
            half=half,
            sh=sh,
            options=options,
            arch=arch,
            breakdown=breakdown,
            assumptions=assumptions,
            missing=missing,
        )
    w, g, m, s = ms.weights, ms.grads, ms.master, ms.states
    frozen_bytes, gather_items = ms.frozen_bytes, ms.gather_items
    trainable, frozen_params, lora_info = ms.trainable, ms.frozen_params, ms.lora

    # per-GPU model states
    w_gpu, g_gpu = sh(w, "weights"), sh(g, "grads")
    o_gpu = sh(m, "optimizer") + sh(s, "optimizer")
    f_gpu = sh(frozen_bytes, "frozen")
    model_states = w_gpu + g_gpu + o_gpu + f_gpu

    # gathered units (ZeRO-3 / FSDP FULL_SHARD)
    gathered = 0
    if sh.stage >= 3 and sh.degree > 1:
        if options.fsdp == "none":
            unit, unit_bytes = largest_module(gather_items)
            rule = "DeepSpeed stage3: 16-bit params + grads of the largest module (4 x largest_layer_params)"
        else:
            unit, unit_bytes = largest_unit(gather_items)
            rule = (
                "FSDP: unsharded 16-bit params (+ grads) of the largest wrapped unit (decoder layer or root)"
            )
        gathered = -(-unit_bytes // sh.tp)
        breakdown.append(item("gathered unit", gathered, f"{rule}: {unit}"))
        assumptions.append("FSDP/ZeRO-3 prefetch of the next unit can hold a second unit; not counted")

    act = estimate_activations(arch, options, gated_mlp=_is_gated(lts), act_bytes=act_bytes)
    if act.layers_bytes:
        breakdown.append(item("activations", act.layers_bytes, act.formula))
    if act.logits_bytes:
        breakdown.append(
            item(
                "loss logits",
                act.logits_bytes,
                "s*b*V*4 (fp32 logits for the loss)"
                if options.logits == "fp32"
                else "(2 + 4 + 4)*s*b*V (HF peak)",
            )
        )
    assumptions.extend(act.assumptions)
    missing.extend(act.missing)
    if act.logits_alternative is not None:
        alternatives.append(item(*act.logits_alternative))

    # alternatives: the same model states under other published accountings
    if options.method == "full" and options.optimizer == "adamw" and options.precision == "mixed":
        for acc in ("zero", "hf", "megatron"):
            if acc == options.accounting:
                continue
            apr = precision_bytes("mixed", acc)
            aw_, ag, am, as_ = full_state_bytes(params_t, apr, options)
            total = sh(aw_, "weights") + sh(ag, "grads") + sh(am, "optimizer") + sh(as_, "optimizer") + f_gpu
            text = {"zero": "ZeRO paper 2+2+12", "hf": "HF anatomy 6+4+8", "megatron": "Megatron 2+4+12"}[acc]
            alternatives.append(item(f"model states, {text}", total, f"{apr.label}{sh.suffix('optimizer')}"))
        n = sh.degree
        if (sh.tp == 1 and sh.stage == 2) or (options.gpus == 1 and sh.stage == 0):
            alternatives.append(
                item(
                    "DeepSpeed estimate_zero2_model_states_mem_needs",
                    2 * p_all + 18 * p_all // n,
                    f"2P + int(18P/N), N={n} (stage_1_and_2.py; older docs: 4P + 16P/N)",
                )
            )
        if sh.tp == 1 and sh.stage == 3 and options.fsdp == "none":
            big_name, big = largest_module((t.name, t.params) for t in params_t)
            alternatives.append(
                item(
                    "DeepSpeed estimate_zero3_model_states_mem_needs",
                    4 * big + 18 * p_all // n,
                    f"4 x largest_layer_params ({big_name}: {fmt(big)}) + int(18P/N), N={n} (stage3.py)",
                )
            )
        if sh.dp > 1:
            alternatives.append(
                item(
                    "Megatron distributed optimizer",
                    math.ceil((6 + 12 / sh.dp) * p_all / sh.tp),
                    f"(6 + 12/dp) x P, dp={sh.dp} (theoretical_memory_usage.py)",
                )
            )
        if options.gpus == 1:
            alternatives.append(
                item(
                    "accelerate estimate-memory (max component, not a sum)",
                    8 * p_all,
                    "max(model 4P, grads 6P, optimizer 8P) for a 16-bit model (accelerate estimate.py)",
                )
            )

    per_gpu = model_states + gathered + act.total_bytes
    assumptions.append(
        "per-GPU total excludes the CUDA context (~1-2 GB), NCCL buffers and allocator fragmentation"
    )
    return TrainingReport(
        method=options.method,
        optimizer=options.optimizer,
        precision=options.precision,
        gpus=options.gpus,
        data_parallel=sh.dp,
        tensor_parallel=sh.tp,
        sharding=sh.label,
        trainable_parameters=trainable,
        frozen_parameters=frozen_params,
        weights_bytes=w_gpu + f_gpu,
        gradients_bytes=g_gpu,
        optimizer_bytes=o_gpu,
        gathered_bytes=gathered,
        model_states_bytes=model_states,
        activations_bytes=act.layers_bytes,
        activations_per_layer_bytes=act.formula_bytes,
        flash_lse_per_layer_bytes=act.lse_bytes,
        logits_bytes=act.logits_bytes,
        per_gpu_bytes=per_gpu,
        seq_len=options.seq_len,
        micro_batch=options.micro_batch,
        lora=lora_info,
        breakdown=breakdown,
        alternatives=alternatives,
        assumptions=assumptions,
        missing=missing,
    )
