"""The graph a model would get in llama.cpp, from hubmem's architecture and llama.cpp's context: which
builder (only architectures whose graph is ported, with the options the port follows; anything else is
None and the view keeps its phase model) and the reserved batch (``sched_reserve`` /
``graph_reserve``, src/llama-context.cpp @ 0c1e570)."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from hubmem.estimate.engines.llamacpp.cparams import UNQUANTIZED
from hubmem.estimate.engines.llamacpp.graph.spec import MLA, GraphSpec, MoE
from hubmem.estimate.engines.llamacpp.hparams import Hparams
from hubmem.schema.architecture import Architecture
from hubmem.schema.engines import LlamaCppKVCache, LlamaCppSettings

_BUILDERS = {
    "llama": "llama",
    "qwen2": "qwen2",
    "qwen3": "qwen3",
    "qwen3moe": "qwen3moe",
    "deepseek2": "deepseek2",
    "lfm2": "lfm2",
    "mamba": "mamba",
    "gemma3": "gemma3",
    "gemma3_text": "gemma3",
}
# llama_expert_gating_func_type (src/llama-hparams.h): 1 softmax, 2 sigmoid
_GATING = {1: "softmax", 2: "sigmoid"}


def _rot(type_: str, head: int, largest: bool) -> int:
    """``llama_kv_cache``'s Hadamard rotation for a quantized cache whose head size is a multiple of 64
    (src/llama-kv-cache.cpp:321-338): K (``build_input_k_rot``) the largest power of two >= 64 dividing the
    head size, V (``build_input_v_rot``, ``largest`` False) always 64."""
    if type_ in UNQUANTIZED or head <= 0 or head % 64:
        return 0
    n = 64
    while largest and head % (n * 2) == 0:
        n *= 2
    return n


def _experts_used_ok(used: int, experts: int) -> bool:
    """llama.cpp loads a MoE model only with ``0 < n_expert_used <= n_expert`` (``load_hparams``,
    src/llama-model.cpp:1358-1365, ``GGML_ASSERT``s); anything else is not simulated."""
    return 0 < used <= experts


def _deepseek_moe(arch: Architecture, meta: Mapping[str, object], probs_bias: bool) -> MoE | None:
    """deepseek2.cpp ``load_arch_hparams``: the gating function (absent: softmax), weight norm and scale,
    from the GGUF metadata; expert groups, attention temperature and MTP layers are not ported."""
    pre = "deepseek2."
    groups = meta.get(pre + "expert_group_count", 0)
    if (isinstance(groups, int) and groups > 1) or meta.get(pre + "attention.temperature_scale"):
        return None
    if meta.get(pre + "nextn_predict_layers"):
        return None
    func = meta.get(pre + "expert_gating_func", 1)
    gating = _GATING.get(func) if isinstance(func, int) else None
    scale = meta.get(pre + "expert_weights_scale", 0.0)
    if gating is None or not arch.num_experts or not isinstance(scale, (int, float)):
        return None
    if not _experts_used_ok(arch.experts_per_token or 0, arch.num_experts):
        return None
    return MoE(
        arch.num_experts,
        arch.experts_per_token or 0,
        arch.moe_intermediate_size or 0,
        gating=gating,
        norm_w=bool(meta.get(pre + "expert_weights_norm", False)),
        w_scale=float(scale),
        probs_bias=probs_bias,
        n_ff_shexp=(arch.moe_intermediate_size or 0) * (arch.shared_experts or 0),
        n_dense_lead=arch.first_dense_layers or 0,
    )


def _mamba(arch: Architecture, hp: Hparams, meta: Mapping[str, object]) -> GraphSpec | None:
    """Mamba-1 (mamba.cpp / mamba-base.cpp): ``dt_rank`` from the GGUF (``mamba.ssm.time_step_rank``) or
    the config (``time_step_rank``, "auto" = ceil(n_embd / 16)); Falcon-Mamba's dt/B/C norms: not ported."""
    m = arch.mamba
    if m is None or m.version != 1 or not all(k == "mamba" for k in arch.layer_kinds):
        return None
    if meta.get("mamba.ssm.dt_b_c_rms"):
        return None
    rank = meta.get("mamba.ssm.time_step_rank", arch.family.time_step_rank or -(-hp.n_embd // 16))
    if not isinstance(rank, int):
        return None
    ssm = (m.intermediate_size, m.state_size, rank)
    return GraphSpec(
        "mamba", hp.n_layer, hp.n_embd, hp.n_vocab, 0, 0, 0, 0, 0, tuple(hp.is_recr), m.conv_kernel, ssm
    )


def _softmax_moe(builder: str, arch: Architecture, hp: Hparams) -> MoE | None:
    """qwen3moe.cpp's and llama.cpp's MoE branch (Mixtral): ``build_moe_ffn`` with softmax gating and
    renormalised weights (LLAMA reads no ``expert_weights_scale``: unscaled), experts of ``n_ff_exp`` rows
    (qwen3moe) or ``n_ff`` (llama's ``ffn_*_exps`` are ``{n_embd, n_ff, n_expert}``); no shared expert."""
    if not arch.num_experts or arch.shared_experts:
        return None
    if not _experts_used_ok(hp.n_expert_used, arch.num_experts):
        return None
    n_ff = hp.n_ff_exp if builder == "qwen3moe" else hp.n_ff
    return MoE(arch.num_experts, hp.n_expert_used, n_ff, norm_w=True)


def _ffn_and_attention(
    builder: str, arch: Architecture, hp: Hparams, meta: Mapping[str, object], probs_bias: bool
) -> tuple[MoE | None, MLA | None] | None:
    """The MoE and MLA parts (None: a variant not ported)."""
    if builder == "qwen3moe" or (builder == "llama" and arch.num_experts):
        moe = _softmax_moe(builder, arch, hp)
        return None if moe is None else (moe, None)
    if builder == "deepseek2":
        m = arch.mla
        from_gguf = meta.get("general.architecture") == "deepseek2"
        moe = _deepseek_moe(arch, meta, probs_bias) if from_gguf else None
        if m is None or moe is None or not m.v_head_dim:
            return None
        head_k = (m.qk_nope_head_dim or 0) + m.qk_rope_head_dim
        return moe, MLA(m.kv_lora_rank, m.qk_rope_head_dim, head_k, m.v_head_dim, m.q_lora_rank or 0)
    if arch.num_experts or any(k != v for k, v in zip(hp.head_k, hp.head_v, strict=True)):
        return None
    if any(hp.is_recr) and (builder != "lfm2" or arch.short_conv is None):
        return None
    return None, None


def _shape(arch: Architecture, hp: Hparams, meta: Mapping[str, object], probs_bias: bool) -> GraphSpec | None:
    """The model part of the spec, or None where no ported builder applies."""
    builder = _BUILDERS.get(hp.arch)
    if builder == "mamba":
        return _mamba(arch, hp, meta)
    attn = [il for il in range(hp.n_layer) if not hp.is_recr[il]]
    uniform = all(len({v[il] for il in attn}) == 1 for v in (hp.head_k, hp.head_v, hp.n_head_kv, hp.n_head))
    if builder is None or not attn or not uniform or (any(hp.is_swa) and builder != "gemma3"):
        return None
    if builder == "gemma3" and meta.get("gemma3.final_logit_softcapping"):
        return None
    parts = _ffn_and_attention(builder, arch, hp, meta, probs_bias)
    if parts is None:
        return None
    a = attn[0]
    return GraphSpec(
        builder,
        hp.n_layer,
        hp.n_embd,
        hp.n_vocab,
        hp.n_head[a],
        hp.n_head_kv[a],
        hp.head_k[a],
        hp.head_v[a],
        hp.n_ff,
        tuple(hp.is_recr),
        conv_kernel=arch.short_conv.conv_kernel if arch.short_conv else 0,
        swa=tuple(hp.is_swa) if any(hp.is_swa) else (),
        moe=parts[0],
        mla=parts[1],
    )


def _qkv_bias(builder: str, meta: Mapping[str, object], biases: frozenset[str]) -> tuple[bool, bool, bool]:
    """``build_qkv``'s optional Q, K and V biases (``create_tensor_qkv``, src/llama-model.cpp: not
    required): a GGUF's own; converted from a config, Qwen2's (transformers' ``Qwen2Attention``: q/k/v
    projections with a bias, always)."""
    if meta.get("general.architecture"):
        return "attn_q" in biases, "attn_k" in biases, "attn_v" in biases
    qwen2 = builder == "qwen2"
    return qwen2, qwen2, qwen2


def graph_spec(
    arch: Architecture,
    hp: Hparams,
    cp: LlamaCppSettings,
    caches: list[LlamaCppKVCache],
    meta: Mapping[str, object] | None = None,
    biases: frozenset[str] = frozenset(),
) -> GraphSpec | None:
    """The prompt graph ``sched_reserve`` reserves for this model and context, or None (not ported).
    ``meta``: the GGUF metadata (DeepSeek-2's router settings live there); ``biases``: the GGUF's layer
    tensors with a bias (``attn_q``, DeepSeek-2's ``exp_probs_b`` ...)."""
    meta = meta or {}
    model = _shape(arch, hp, meta, "exp_probs_b" in biases)
    if model is None or len(caches) != (0 if all(model.recurrent) else 2 if model.swa else 1) or hp.missing:
        return None
    seqs = cp.n_seq_max
    n_tokens = -(-min(cp.n_ctx, cp.n_ubatch) // seqs) * seqs
    mla = model.mla is not None
    return msgspec.structs.replace(
        model,
        rs_cells=max(1, seqs),  # llama_memory_recurrent: max(1, n_seq_max) cells
        n_tokens=n_tokens,
        n_seqs=seqs,
        n_outputs=min(n_tokens, cp.n_outputs_max),
        n_kv=caches[0].cells if caches else 0,
        n_kv_swa=caches[1].cells if model.swa else 0,
        n_stream=caches[0].streams if caches else 1,
        n_embd_v_gqa_max=hp.n_embd_v_gqa_max,
        flash=cp.flash_attn == "enabled",
        type_k=cp.type_k,
        type_v=cp.type_v,
        rot=(0, 0) if mla else (_rot(cp.type_k, model.head_k, True), _rot(cp.type_v, model.head_v, False)),
        qkv_bias=_qkv_bias(model.arch, meta, biases),
    )
