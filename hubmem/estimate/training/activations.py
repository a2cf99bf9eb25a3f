"""Activation memory per micro-batch (docs/theory.md section 4.4).

Two per-layer formulas, both in bytes for 16-bit activations:

* ``korthikanti`` (Korthikanti et al. 2022, arXiv:2205.05198 section 4.1), the paper's GPT block with a
  4h FFN: ``sbh(34 + 5as/h)``. Tensor parallel only: ``sbh*(10 + 24/t) + 5as^2b/t``; with sequence
  parallel everything is divided by ``t``. When the model's FFN is not 4h, Megatron's generalisation
  ``s*b*h*(18 + 4*ffn/h)`` is quoted beside it in the assumptions.
* ``llama`` (RMSNorm, no dropout, SwiGLU, GQA) [derived in theory 4.4 with the same accounting]: saved
  tensors per token ``2h`` norm-1 input, ``2h`` QKV input, ``2*q_dim`` Q, ``2*(k_dim + v_dim)`` K and V,
  ``2*o_dim`` attention output, ``2h`` norm-2 input, ``2h`` MLP input, ``4*I`` gate and up outputs,
  ``2*I`` SiLU output, ``2*I`` down-proj input: ``s*b*(12h + 4h*nkv/nh + 8I)`` for Llama
  (41*sbh for Llama-3-8B).
  Tensor parallel splits everything but the four ``2h`` terms (all of it with sequence parallel).

FlashAttention never materialises the ``s x s`` scores: the ``5*a*s^2*b`` term is dropped (the same term
selective recomputation removes) and the kernel keeps its fp32 log-sum-exp, ``4*a*s*b`` bytes per layer.
Full checkpointing keeps each layer's input (``2sbh``, ``/t`` with SP) plus one layer's activations
while it is recomputed. The loss logits are counted separately (``logits_bytes``).
"""

from __future__ import annotations

import msgspec

from hubmem.schema.architecture import Architecture
from hubmem.schema.training import TrainingOptions

RECURRENT_KINDS = {"mamba", "mamba2", "linear"}


class LayerDims(msgspec.Struct):
    """Per-token widths (elements) of the saved tensors of one decoder layer."""

    hidden: int
    heads: int  # query heads (a)
    q_dim: int
    k_dim: int
    v_dim: int
    o_dim: int
    ffn: int  # per-token MLP width that stores activations (k experts x I for MoE layers)
    latent: int = 0  # MLA: compressed q/kv inputs stored for the up-projections
    routed: int = 0  # MoE: routed copies per token (top-k): gathered expert inputs + weighted outputs


class Activations(msgspec.Struct):
    per_layer_bytes: int  # one layer, as stored under the chosen policy (formula + LSE, largest layer)
    formula_bytes: int  # the per-layer formula alone (largest layer), as theory 6.10 quotes it
    lse_bytes: int  # FlashAttention softmax statistics per layer (0 without flash)
    scores_bytes: int  # the 5*a*s^2*b term per layer (0 when flash/selective drops it)
    layers_bytes: int  # all layers under the checkpointing policy
    logits_bytes: int
    total_bytes: int
    formula: str  # the formula used, human readable
    name: str  # korthikanti | llama
    assumptions: list[str] = []
    missing: list[str] = []
    logits_alternative: tuple[str, int, str] | None = None


def _pick_formula(arch: Architecture, options: TrainingOptions, gated_mlp: bool) -> str:
    if options.activation_formula != "auto":
        return options.activation_formula
    return "llama" if gated_mlp else "korthikanti"


def _layer_dims(arch: Architecture, layer: int, tp: int) -> LayerDims:
    h = arch.hidden_size or 0
    nh = arch.num_attention_heads or 1
    nkv = arch.num_kv_heads or nh
    if arch.layer_kv_heads is not None and layer < len(arch.layer_kv_heads):
        nkv = arch.layer_kv_heads[layer] or nkv
    hd = arch.head_dim or (h // nh if nh else 0)
    hd_v = arch.v_head_dim or hd
    kv_per_gpu_heads = max(1, nkv // tp) * tp  # KV heads are replicated when nkv < tp (theory 2.1)
    latent = 0
    if arch.mla is not None:
        mla = arch.mla
        qk = (mla.qk_nope_head_dim or hd) + mla.qk_rope_head_dim
        vd = mla.v_head_dim or hd_v
        q_dim, k_dim, v_dim, o_dim = nh * qk, nh * qk, nh * vd, nh * vd
        latent = mla.kv_lora_rank + mla.qk_rope_head_dim + (mla.q_lora_rank or 0)
    else:
        q_dim, k_dim, v_dim, o_dim = nh * hd, kv_per_gpu_heads * hd, kv_per_gpu_heads * hd_v, nh * hd_v
    ffn = arch.intermediate_size or 4 * h
    routed = 0
    if arch.num_experts and layer >= (arch.first_dense_layers or 0):
        k = arch.experts_per_token or 1
        # Mixtral / gpt-oss size their experts with intermediate_size
        ffn = (k + (arch.shared_experts or 0)) * (arch.moe_intermediate_size or ffn)
        routed = k
    return LayerDims(h, nh, q_dim, k_dim, v_dim, o_dim, ffn, latent, routed)


def _layer_bytes(d: LayerDims, s: int, b: int, tp: int, sp: bool, name: str) -> tuple[int, int]:
    """(formula bytes without the attention-score term, attention-score term) for one layer, per GPU."""
    sb = s * b
    scores = 5 * d.heads * s * s * b // tp  # softmax 2as^2b + mask as^2b + dropout out 2as^2b (Korthikanti)
    if name == "korthikanti":
        h = d.hidden
        if tp == 1 or sp:  # the paper's GPT block (FFN = 4h): sbh*34
            return 34 * sb * h // tp, scores
        return 10 * sb * h + 24 * sb * h // tp, scores
    replicated = 8 * d.hidden  # norm-1 input, QKV input, norm-2 input, MLP input (2 bytes each)
    sharded = 2 * (d.q_dim + d.k_dim + d.v_dim + d.o_dim) + 8 * d.ffn + 2 * d.latent + 4 * d.routed * d.hidden
    if sp:
        return sb * (replicated + sharded) // tp, scores
    return sb * replicated + sb * sharded // tp, scores


def _per_layer(
    arch: Architecture, options: TrainingOptions, name: str, act_bytes: int
) -> list[tuple[int, int, int]]:
    """(formula bytes without scores, attention-score bytes kept, FlashAttention LSE bytes) per layer."""
    s, b = options.seq_len, options.micro_batch
    tp, sp = options.tensor_parallel, options.sequence_parallel
    n_layers = arch.num_layers or 0
    kinds = arch.layer_kinds or ["full"] * n_layers
    out: list[tuple[int, int, int]] = []
    for i in range(n_layers):
        d = _layer_dims(arch, i, tp)
        base, scores = _layer_bytes(d, s, b, tp, sp, name)
        kind = kinds[i] if i < len(kinds) else "full"
        if kind in RECURRENT_KINDS or kind == "none":
            scores = 0
        lse = 4 * d.heads * s * b // tp if options.flash_attention and scores else 0
        if options.flash_attention or options.gradient_checkpointing == "selective":
            scores = 0
        out.append((base * act_bytes // 2, scores * act_bytes // 2, lse))  # formulas are for 16-bit
    return out


def _policy(
    arch: Architecture, options: TrainingOptions, per_layer: list[tuple[int, int, int]], act_bytes: int
) -> tuple[int, str]:
    """Bytes of all layers under the checkpointing policy, and how they were counted."""
    n_layers, h = len(per_layer), arch.hidden_size or 0
    s, b, sp = options.seq_len, options.micro_batch, options.sequence_parallel
    if options.gradient_checkpointing == "full":
        largest = max(sum(layer) for layer in per_layer)
        kept_per_layer = 2 * s * b * h // (options.tensor_parallel if sp else 1) * act_bytes // 2
        return n_layers * kept_per_layer + largest, (
            f"full checkpointing: layer inputs 2sbh{'/t' if sp else ''} x {n_layers} = "
            f"{n_layers * kept_per_layer:,} B + one layer recomputed live {largest:,} B"
        )
    what = "no" if options.gradient_checkpointing == "none" else "selective"
    return sum(
        sum(layer) for layer in per_layer
    ), f"{what} checkpointing: all {n_layers} layers' activations kept"


def _formula_text(arch: Architecture, options: TrainingOptions, name: str, assumptions: list[str]) -> str:
    s, b, tp, sp = options.seq_len, options.micro_batch, options.tensor_parallel, options.sequence_parallel
    if name != "korthikanti":
        text = "s*b*(8h + 2(q+k+v+o dims) + 8I + 2*latent)"
        text += "/t" if sp else " with the non-2h terms /t" if tp > 1 else ""
        return text + " [Llama-style, derived; =s*b*(12h + 4h*nkv/nh + 8I) for Llama]"
    if tp == 1 or sp:
        text = "34*s*b*h" + ("/t" if tp > 1 else "") + " [Korthikanti, GPT block with a 4h FFN]"
    else:
        text = "s*b*h*(10 + 24/t) [Korthikanti, TP without SP]"
    h = arch.hidden_size or 0
    ffn = _layer_dims(arch, (arch.num_layers or 1) - 1, tp).ffn
    if ffn != 4 * h:
        megatron = s * b * h * 18 + s * b * 4 * ffn
        assumptions.append(
            f"this model's FFN is {ffn} = {ffn / h:g}h, not 4h: Megatron's s*b*h*(18 + 4*ffn/h) gives "
            f"{megatron:,} B per layer instead of 34*s*b*h = {34 * s * b * h:,} B (no TP, no scores)"
        )
    return text


def _model_notes(arch: Architecture, act_bytes: int) -> list[str]:
    notes = []
    if act_bytes != 2:
        notes.append(f"activations scaled by {act_bytes}/2 for {act_bytes * 8}-bit activations")
    recurrent = sum(1 for k in arch.layer_kinds if k in RECURRENT_KINDS)
    if recurrent:
        notes.append(
            f"{recurrent} recurrent (Mamba / linear-attention) layers have no published activation formula; "
            "counted with the same dense-layer formula without attention scores (rough)"
        )
    if arch.num_experts:
        notes.append(
            "MoE layers (Llama-style formula): each token stores the SwiGLU tensors of its top-k routed "
            "(+ shared) experts, plus 2*k*h for the k gathered expert inputs and 2*k*h for the expert "
            "outputs weighted by the router [derived]; routing imbalance, capacity padding and router "
            "logits are not modelled"
        )
    if arch.mla is not None:
        notes.append("MLA layers: Q/K/V at their up-projected widths plus the compressed latents (rough)")
    notes.append(
        "not counted: embedding output, final norm, pipeline parallel in-flight micro-batches, "
        "allocator fragmentation, temporary buffers of the backward pass"
    )
    return notes


def _logits(arch: Architecture, options: TrainingOptions) -> tuple[int, tuple[str, int, str] | None]:
    """Logits for the loss (theory 4.4): fp32 s*b*V*4 (Megatron / Korthikanti) or the HF peak (2+4+4)*s*b*V,
    and the other one as an alternative."""
    s, b, tp, vocab = options.seq_len, options.micro_batch, options.tensor_parallel, arch.vocab_size or 0
    fp32_logits, hf_logits = 4 * s * b * vocab // tp, 10 * s * b * vocab
    if options.logits == "hf":
        alt = ("logits fp32 (Megatron)", fp32_logits, "s*b*V*4" + ("/t (vocab-parallel)" if tp > 1 else ""))
        return hf_logits, alt if vocab else None
    alt = ("logits HF peak", hf_logits, "(2 + 4 + 4)*s*b*V: 16-bit logits + fp32 upcast + fp32 gradient")
    return fp32_logits, alt if vocab else None


def estimate_activations(
    arch: Architecture, options: TrainingOptions, *, gated_mlp: bool, act_bytes: int = 2
) -> Activations:
    """Activation bytes per GPU for one micro-batch under ``options`` (policy, TP/SP, flash, logits)."""
    name = _pick_formula(arch, options, gated_mlp)
    if not arch.hidden_size or not arch.num_layers:
        missing = ["activations: hidden_size / num_hidden_layers unknown, activations not projected"]
        return Activations(0, 0, 0, 0, 0, 0, 0, "", name, [], missing)
    per_layer = _per_layer(arch, options, name, act_bytes)
    i_largest = max(range(len(per_layer)), key=lambda i: sum(per_layer[i]))
    layers_bytes, policy = _policy(arch, options, per_layer, act_bytes)
    assumptions: list[str] = []
    text = _formula_text(arch, options, name, assumptions)
    _, scores_kept, lse = per_layer[i_largest]
    if scores_kept:
        text += " + 5*a*s^2*b attention scores (eager attention)"
    if lse:
        text += " + 4*a*s*b FlashAttention log-sum-exp (fp32)"
    o = options
    sp = "on" if o.sequence_parallel else "off"
    assumptions.append(
        f"activations: {text}; s={o.seq_len}, b={o.micro_batch}, t={o.tensor_parallel}, SP={sp}; {policy}"
    )
    assumptions += _model_notes(arch, act_bytes)
    logits, alt = _logits(arch, options)
    missing = [] if arch.vocab_size else ["logits: vocab_size unknown, loss logits not projected"]
    return Activations(
        per_layer_bytes=max(sum(layer) for layer in per_layer),
        formula_bytes=max(f + sc for f, sc, _ in per_layer),
        lse_bytes=lse,
        scores_bytes=scores_kept,
        layers_bytes=layers_bytes,
        logits_bytes=logits,
        total_bytes=layers_bytes + logits,
        formula=text,
        name=name,
        assumptions=assumptions,
        missing=missing,
        logits_alternative=alt,
    )
