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
from dataclasses import dataclass
from typing import Any

from ..parse.dtypes import DTYPE_BITS
from ..parse.header import Tensor
from ..schema.architecture import Architecture
from ..schema.common import MemoryItem
from ..schema.training import LoRAInfo, TrainingOptions, TrainingReport
from ..schema.weights import WeightsReport
from .activations import estimate_activations
from .lora import QUANT_STATE_CONSTANTS, is_linear_weight, match_lora, module_name, nf4_bytes
from .optimizers import Precision, describe_optimizer, precision_bytes, state_bytes
from .quant import AUX_SUFFIXES, BNB4_AUX_SUFFIXES, BNB8_AUX_SUFFIXES, GPTQ_AUX_SUFFIXES
from .sharding import label, largest_module, largest_unit, shard_bytes, shard_degree, stage_of

# quantization bookkeeping tensors, never parameters: the weights section's own lists
# (theory 3.2; huggingface.js QUANTIZATION_AUXILIARY_SUFFIXES)
AUX_LEAVES = AUX_SUFFIXES | GPTQ_AUX_SUFFIXES - {"scales"} | BNB4_AUX_SUFFIXES | BNB8_AUX_SUFFIXES
FLOAT_DTYPES = {
    "F16",
    "BF16",
    "F32",
    "F64",
    "F8_E4M3",
    "F8_E5M2",
    "F8_E4M3FNUZ",
    "F8_E5M2FNUZ",
    "F6_E2M3",
    "F6_E3M2",
    "F4",
}


@dataclass(frozen=True)
class LogicalTensor:
    """A checkpoint tensor as the model sees it: logical shape and parameters, stored bytes
    (auxiliary tensors of the same module included)."""

    name: str  # packed names normalised: ``...q_proj.qweight`` -> ``...q_proj.weight``
    shape: tuple[int, ...] | None  # logical shape, [out, in] for linear weights; None = unknown
    params: int
    stored_bytes: int
    dtype: str  # stored dtype
    packed: bool = False
    buffer: bool = False  # integer / bool tensors of an unquantized model (position ids ...): not trainable
    shape_inferred: bool = False  # shape taken from the config (bnb 4-bit flattens it)


def _fmt(n: int) -> str:
    return f"{n:,}"


def quant_kind(weights: WeightsReport | None, arch: Architecture) -> tuple[str | None, int]:
    """Normalised quantization format of the checkpoint and its nominal weight bits."""
    qc: dict[str, Any] = dict(arch.quantization_config or {})
    method = weights.quantization.method if weights is not None and weights.quantization else None
    raw = str(method or qc.get("quant_method") or qc.get("quant_algo") or "").lower()
    bits: Any = weights.quantization.bits if weights is not None and weights.quantization else None
    if bits is None:
        bits = qc.get("bits") or qc.get("w_bit")
    if bits is None and isinstance(qc.get("config_groups"), dict):
        for group in qc["config_groups"].values():
            if isinstance(group, dict) and isinstance(group.get("weights"), dict):
                bits = group["weights"].get("num_bits")
                break
    if not raw and "group_size" in qc and "bits" in qc:
        raw = "mlx"
    kind: str | None
    if not raw:
        kind = None
    elif "gptq" in raw:
        kind = "gptq"
    elif "awq" in raw:
        kind = "awq"
    elif "bitsandbytes" in raw or "bnb" in raw:
        kind = "bnb8" if ("8" in raw or qc.get("load_in_8bit")) else "bnb4"
    elif "compressed" in raw:
        kind = "compressed-tensors"
    elif "mxfp4" in raw:
        kind = "mxfp4"
    elif "nvfp4" in raw or "modelopt" in raw:
        kind = "nvfp4"
    elif "mlx" in raw:
        kind = "mlx"
    else:
        kind = raw  # fp8, fbgemm_fp8 ...: weights keep their logical shape
    try:
        nbits = int(bits) if bits is not None else 4
    except (TypeError, ValueError):
        nbits = 4
    return kind, max(1, nbits)


def _linear_shape_from_config(module: str, arch: Architecture) -> tuple[int, int] | None:
    """[out, in] of well-known Llama-style projections from the config (for formats that flatten weights)."""
    h, nh = arch.hidden_size, arch.num_attention_heads
    if not h or not nh:
        return None
    nkv = arch.num_kv_heads or nh
    hd = arch.head_dim or h // nh
    inter = arch.intermediate_size or 4 * h
    leaf = module.rsplit(".", 1)[-1]
    table = {
        "q_proj": (nh * hd, h),
        "k_proj": (nkv * hd, h),
        "v_proj": (nkv * hd, h),
        "o_proj": (h, nh * hd),
        "gate_proj": (inter, h),
        "up_proj": (inter, h),
        "down_proj": (h, inter),
    }
    return table.get(leaf)


def logical_tensors(
    tensors: Sequence[Tensor], *, quant: str | None, bits: int = 4, arch: Architecture | None = None
) -> list[LogicalTensor]:
    """Unpack the real tensor list into logical tensors (see ``LogicalTensor``)."""
    names = {t.name for t in tensors}
    aux_bytes: dict[str, int] = {}
    out: list[LogicalTensor] = []
    for t in tensors:
        mod, _, leaf = t.name.rpartition(".")

        def sibling(other: str, mod: str = mod) -> str:
            return f"{mod}.{other}" if mod else other

        aux = (
            leaf in AUX_LEAVES
            or t.dtype == "F8_E8M0"
            or ".quant_state." in t.name
            or (leaf == "scales" and (sibling("qweight") in names or quant == "mlx"))
            or (leaf == "biases" and quant == "mlx" and sibling("scales") in names)
            or (leaf.endswith("_scales") and t.dtype == "U8" and sibling(leaf[:-7] + "_blocks") in names)
        )
        if aux:
            owner = mod[: -len(".quant_state")] if ".quant_state." in t.name else mod
            if leaf.endswith("_scales") and t.dtype == "U8":
                owner = sibling(leaf[:-7])
            aux_bytes[owner] = aux_bytes.get(owner, 0) + t.nbytes
            continue
        shape: tuple[int, ...] | None = t.shape
        name, packed, inferred = t.name, False, False
        rows = t.shape[0] if t.shape else 1
        cols = t.shape[-1] if t.shape else 1
        container = DTYPE_BITS[t.dtype]
        if leaf == "qweight" and len(t.shape) == 2:
            per = container // bits
            shape = (cols, rows * per) if quant != "awq" else (cols * per, rows)
            name, packed = sibling("weight"), True
        elif leaf == "weight_packed" and len(t.shape) == 2:
            per = 2 if t.dtype == "U8" else container // bits
            shape, name, packed = (rows, cols * per), sibling("weight"), True
        elif leaf.endswith("_blocks") and t.dtype == "U8" and len(t.shape) >= 2:
            shape = (*t.shape[:-2], t.shape[-2] * t.shape[-1] * 2)
            name, packed = sibling(leaf[: -len("_blocks")]), True
        elif leaf == "weight" and quant == "nvfp4" and t.dtype == "U8" and len(t.shape) == 2:
            shape, packed = (rows, cols * 2), True
        elif leaf == "weight" and quant == "mlx" and t.dtype == "U32" and len(t.shape) == 2:
            shape, packed = (rows, cols * (32 // bits)), True
        elif leaf == "weight" and (t.name + ".absmax" in names or t.name + ".quant_map" in names):
            # bitsandbytes 4-bit: [(n + 1) // 2, 1] bytes of quant_storage; logical n = numel * 2 * itemsize
            numel = t.numel * 2 * (container // 8)
            guess = _linear_shape_from_config(mod, arch) if arch is not None else None
            if guess is not None and math.prod(guess) in (numel, numel - 1):
                shape, inferred, numel = guess, True, math.prod(guess)
            else:
                shape = None
            out.append(LogicalTensor(name, shape, numel, t.nbytes, t.dtype, True, False, inferred))
            continue
        is_param = t.dtype in FLOAT_DTYPES or packed or (quant is not None and leaf == "weight")
        params = math.prod(shape) if shape is not None else t.numel
        out.append(LogicalTensor(name, shape, params, t.nbytes, t.dtype, packed, not is_param, inferred))
    if aux_bytes:
        by_module = {module_name(lt.name): i for i, lt in enumerate(out)}
        by_name = {lt.name: i for i, lt in enumerate(out)}
        for owner, nbytes in aux_bytes.items():
            i = by_name.get(owner, by_module.get(owner))
            if i is None:
                out.append(LogicalTensor(owner + ".<aux>", (0,), 0, nbytes, "U8", buffer=True))
                continue
            lt = out[i]
            out[i] = LogicalTensor(
                lt.name,
                lt.shape,
                lt.params,
                lt.stored_bytes + nbytes,
                lt.dtype,
                lt.packed,
                lt.buffer,
                lt.shape_inferred,
            )
    return out


def _is_gated(tensors: Sequence[LogicalTensor]) -> bool:
    return any(
        "gate_proj" in t.name or "gate_up_proj" in t.name or ".w3." in t.name or "up_proj" in t.name
        for t in tensors
    )


def _item(name: str, nbytes: int, formula: str) -> MemoryItem:
    return MemoryItem(name=name, bytes=nbytes, formula=formula)


class _Sharder:
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


def _full_states(
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


def estimate_training(
    weights: WeightsReport, tensors: list[Tensor], arch: Architecture, options: TrainingOptions
) -> TrainingReport:
    """Projected training memory per GPU for ``options`` (theory.md section 4)."""
    quant, bits = quant_kind(weights, arch)
    lts = logical_tensors(tensors, quant=quant, bits=bits, arch=arch)
    params_t = [t for t in lts if not t.buffer]
    buffers = [t for t in lts if t.buffer]
    p_all = sum(t.params for t in params_t)
    buffer_bytes = sum(t.stored_bytes for t in buffers)
    assumptions: list[str] = []
    missing: list[str] = []
    sh = _Sharder(options)
    pr = precision_bytes(options.precision, options.accounting)
    act_bytes = 4 if options.precision == "fp32" else 2
    half = 4 if options.precision == "fp32" else 2  # bytes of a frozen / gathered weight at compute precision

    if weights.parameters and weights.parameters not in (p_all, p_all + sum(t.params for t in buffers)):
        assumptions.append(
            f"per-tensor unpacking gives {_fmt(p_all)} logical parameters, the weights section "
            f"{_fmt(weights.parameters)}: per-tensor figures use the former"
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
    lora_info: LoRAInfo | None = None
    gather_items: list[tuple[str, int]] = []

    if options.method == "full":
        trainable, frozen_params = p_all, 0
        w, g, m, s = _full_states(params_t, pr, options)
        frozen_bytes = buffer_bytes
        if quant is not None:
            assumptions.append(
                f"the checkpoint is quantized ({quant}): a full fine-tune trains the dequantized model, "
                f"{_fmt(p_all)} logical parameters at the training precision"
            )
        w_label = {2: "16-bit", 4: "fp32", 6: "fp32 + 16-bit copy"}.get(pr.weights, f"{pr.weights} B")
        breakdown.append(
            _item(
                "weights",
                sh(w, "weights"),
                f"{pr.weights} B ({w_label}) x {_fmt(p_all)} params" + sh.suffix("weights"),
            )
        )
        breakdown.append(
            _item("gradients", sh(g, "grads"), f"{pr.grads} B x {_fmt(p_all)} params" + sh.suffix("grads"))
        )
        if m:
            breakdown.append(
                _item(
                    "fp32 master weights",
                    sh(m, "optimizer"),
                    f"{pr.master} B x {_fmt(p_all)} params" + sh.suffix("optimizer"),
                )
            )
        breakdown.append(
            _item(
                "optimizer states",
                sh(s, "optimizer"),
                describe_optimizer(options.optimizer, pr.state, adafactor_beta1=options.adafactor_beta1)
                + sh.suffix("optimizer"),
            )
        )
        if buffer_bytes:
            breakdown.append(
                _item(
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
    else:
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
        w, g, m = trainable * aw, trainable * aw, 0
        s = sum(
            state_bytes(options.optimizer, shape, aw, adafactor_beta1=options.adafactor_beta1)
            for shape in match.adapter_shapes
        )
        breakdown.append(
            _item(
                "adapter weights",
                sh(w, "weights"),
                f"{aw} B ({options.adapter_dtype}) x {_fmt(trainable)} LoRA params = r*(in+out), "
                f"r={options.rank}, over {len(match.modules)} Linear layers" + sh.suffix("weights"),
            )
        )
        breakdown.append(
            _item("adapter gradients", sh(g, "grads"), f"{aw} B x {_fmt(trainable)}" + sh.suffix("grads"))
        )
        breakdown.append(
            _item(
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
                formula = f"{half} B x {_fmt(p_all)} params (base loaded at the compute dtype)"
            breakdown.append(
                _item("frozen base weights", sh(frozen_bytes, "frozen"), formula + sh.suffix("frozen"))
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
                _item(
                    "QLoRA base NF4 data",
                    sh(q_data, "frozen"),
                    f"(n+1)//2 B over {q_tensors} Linear weights, {_fmt(q_params)} params"
                    + sh.suffix("frozen"),
                )
            )
            breakdown.append(
                _item("QLoRA base absmax", sh(q_absmax, "frozen"), absmax_rule + sh.suffix("frozen"))
            )
            breakdown.append(
                _item(
                    "QLoRA base 16-bit tensors",
                    sh(other_params * 2, "frozen"),
                    f"2 B x {_fmt(other_params)} params (embeddings, norms, head stay 16-bit)"
                    + sh.suffix("frozen"),
                )
            )
            breakdown.append(
                _item(
                    "QLoRA quant-state constants",
                    sh(consts, "frozen"),
                    f"{q_tensors} x {QUANT_STATE_CONSTANTS} B (NF4 code, nested code, offset)",
                )
            )
            if buffer_bytes:
                breakdown.append(
                    _item(
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
        m = 0

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
        breakdown.append(_item("gathered unit", gathered, f"{rule}: {unit}"))
        assumptions.append("FSDP/ZeRO-3 prefetch of the next unit can hold a second unit; not counted")

    act = estimate_activations(arch, options, gated_mlp=_is_gated(lts), act_bytes=act_bytes)
    if act.layers_bytes:
        breakdown.append(_item("activations", act.layers_bytes, act.formula))
    if act.logits_bytes:
        breakdown.append(
            _item(
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
        alternatives.append(_item(*act.logits_alternative))

    # alternatives: the same model states under other published accountings
    if options.method == "full" and options.optimizer == "adamw" and options.precision == "mixed":
        for acc in ("zero", "hf", "megatron"):
            if acc == options.accounting:
                continue
            apr = precision_bytes("mixed", acc)
            aw_, ag, am, as_ = _full_states(params_t, apr, options)
            total = sh(aw_, "weights") + sh(ag, "grads") + sh(am, "optimizer") + sh(as_, "optimizer") + f_gpu
            text = {"zero": "ZeRO paper 2+2+12", "hf": "HF anatomy 6+4+8", "megatron": "Megatron 2+4+12"}[acc]
            alternatives.append(_item(f"model states, {text}", total, f"{apr.label}{sh.suffix('optimizer')}"))
        n = sh.degree
        if (sh.tp == 1 and sh.stage == 2) or (options.gpus == 1 and sh.stage == 0):
            alternatives.append(
                _item(
                    "DeepSpeed estimate_zero2_model_states_mem_needs",
                    2 * p_all + 18 * p_all // n,
                    f"2P + int(18P/N), N={n} (stage_1_and_2.py; older docs: 4P + 16P/N)",
                )
            )
        if sh.tp == 1 and sh.stage == 3 and options.fsdp == "none":
            big_name, big = largest_module((t.name, t.params) for t in params_t)
            alternatives.append(
                _item(
                    "DeepSpeed estimate_zero3_model_states_mem_needs",
                    4 * big + 18 * p_all // n,
                    f"4 x largest_layer_params ({big_name}: {_fmt(big)}) + int(18P/N), N={n} (stage3.py)",
                )
            )
        if sh.dp > 1:
            alternatives.append(
                _item(
                    "Megatron distributed optimizer",
                    math.ceil((6 + 12 / sh.dp) * p_all / sh.tp),
                    f"(6 + 12/dp) x P, dp={sh.dp} (theoretical_memory_usage.py)",
                )
            )
        if options.gpus == 1:
            alternatives.append(
                _item(
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
