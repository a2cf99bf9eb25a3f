"""The parameter count a model of a given config.json has, derived analytically.

This is hubmem's own, independent count: it reads only ``config.json`` (through the normalised
:class:`~hubmem.schema.architecture.Architecture` plus the family-specific keys of the raw config) and
never looks at safetensors headers, so it can cross-check them (issue #5). The layer structures below
follow the reference implementations of each family (transformers ``modeling_*.py``; DeepSeek's own
``README_WEIGHTS.md`` for the MTP module; DeciLM/vLLM ``nemotron_nas.py``) and are validated against
transformers by ``scripts/validate_transformers.py``.

Counting convention (what ``total`` means):

* every tensor the model's checkpoint holds for the main model, i.e. ``model.state_dict()`` of the
  transformers model: parameters **and persistent buffers** (DeepSeek-V3 / Nemotron-H
  ``e_score_correction_bias``), shared (tied) tensors once;
* logical element counts: a packed (GPTQ, MXFP4, FP8 + scales) checkpoint has the same ``total``,
  its scale / zero-point tensors are not parameters (theory.md 3.2);
* the DeepSeek multi-token-prediction module is **not** in ``total`` (transformers does not build it)
  but in ``mtp``; ``checkpoint_total = total + mtp`` is what a DeepSeek-V3 checkpoint stores.

``active`` = ``total`` minus the routed experts one token does not use (``num_experts - top_k`` per MoE
layer); embeddings and the output head are included. Vendors round differently (DeepSeek quotes active
parameters without the input embedding), so compare with care.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from ..schema.architecture import Architecture
from ..schema.common import Model

COMPONENTS = (
    "embeddings",  # token (+ position / token-type) embeddings
    "lm_head",  # output projection, 0 when tied to the embeddings
    "attention",  # q/k/v/o (fused or not), MLA projections, attention norms inside the block, sinks
    "mlp",  # dense feed-forward blocks
    "experts",  # routed experts (all of them)
    "shared_experts",  # always-on experts of MoE layers
    "router",  # expert routers / gates (+ score-correction biases)
    "norms",  # per-layer and final norms
    "mamba",  # Mamba / Mamba-2 mixers
    "linear_attention",  # gated DeltaNet mixers
    "vision",  # vision tower
    "projector",  # multimodal projector
    "head",  # task heads (pooler, MLM head)
)


class ConfigParams(Model):
    """Config-derived (projected) parameter count of one model."""

    family: str | None = None  # the family formula used (model_type of the text model)
    total: int | None = None  # None when the family is not covered at all
    active: int | None = None  # per token (MoE); = total for dense models
    components: dict[str, int] = Field(default_factory=dict)
    mtp: int = 0  # DeepSeek multi-token-prediction module(s), not in total
    missing: list[str] = Field(default_factory=list)  # parts not counted (total then covers the rest only)
    notes: list[str] = Field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.total is not None and not self.missing

    @property
    def checkpoint_total(self) -> int | None:
        """What a checkpoint that also stores the MTP module(s) holds."""
        return None if self.total is None else self.total + self.mtp


class _Missing(Exception):
    """A key a formula needs is absent: the family is then reported as missing, never guessed."""


@dataclass
class _Ctx:
    root: Mapping[str, Any]
    tc: Mapping[str, Any]
    arch: Architecture
    family: str
    counts: dict[str, int] = field(default_factory=dict)
    inactive: int = 0  # routed-expert parameters a token does not use
    mtp: int = 0
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, component: str, n: int) -> None:
        self.counts[component] = self.counts.get(component, 0) + n

    def get(self, key: str, default: Any = None) -> Any:
        v = self.tc.get(key)
        return default if v is None else v

    def num(
        self, arch_value: int | None, *keys: str, default: int | None = None, positive: bool = False
    ) -> int:
        """The Architecture's value when parse_config derived it, else the first integer key of the config.

        Negative values never count; with ``positive`` (model dimensions) neither does 0."""
        low = 1 if positive else 0
        if arch_value is not None and arch_value >= low:
            return arch_value
        for k in keys:
            v = self.tc.get(k)
            if isinstance(v, int) and not isinstance(v, bool) and v >= low:
                return v
        if default is not None:
            return default
        raise _Missing(f"{self.family}: config has no {' / '.join(keys)}")

    def opt(self, key: str) -> int | None:
        v = self.tc.get(key)
        return v if isinstance(v, int) and not isinstance(v, bool) else None

    def flag(self, key: str, default: bool) -> bool:
        v = self.tc.get(key)
        return default if v is None else bool(v)

    # common dimensions -------------------------------------------------------------------------
    @property
    def hidden(self) -> int:
        return self.num(self.arch.hidden_size, "hidden_size", "n_embd", "d_model", positive=True)

    @property
    def layers(self) -> int:
        return self.num(self.arch.num_layers, "num_hidden_layers", "n_layer", "num_layers", positive=True)

    @property
    def heads(self) -> int:
        return self.num(
            self.arch.num_attention_heads, "num_attention_heads", "n_head", "num_heads", positive=True
        )

    @property
    def kv_heads(self) -> int:
        return self.num(self.arch.num_kv_heads, "num_key_value_heads", "num_kv_heads", default=self.heads)

    @property
    def head_dim(self) -> int:
        hd = self.arch.head_dim
        if hd is None:
            v = self.tc.get("head_dim")
            hd = v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else self.hidden // self.heads
        return hd

    @property
    def vocab(self) -> int:
        return self.num(self.arch.vocab_size, "vocab_size", positive=True)

    @property
    def intermediate(self) -> int:
        return self.num(self.arch.intermediate_size, "intermediate_size", "n_inner", "ffn_dim", "d_ff")

    def tied(self, default: bool) -> bool:
        if self.arch.tie_word_embeddings is not None:
            return self.arch.tie_word_embeddings
        for cfg in (self.root, self.tc):
            v = cfg.get("tie_word_embeddings")
            if isinstance(v, bool):
                return v
        return default


# Building blocks -------------------------------------------------------------------------------


def _linear(n_in: int, n_out: int, bias: bool = False) -> int:
    return n_in * n_out + (n_out if bias else 0)


def _attention(
    h: int, nh: int, nkv: int, hd: int, *, qkv_bias: bool = False, o_bias: bool = False, qk_norm: int = 0
) -> int:
    """q/k/v/o projections (fused qkv has the same count) and per-head q/k norms of ``qk_norm`` each."""
    return (
        _linear(h, nh * hd, qkv_bias)
        + 2 * _linear(h, nkv * hd, qkv_bias)
        + _linear(nh * hd, h, o_bias)
        + 2 * qk_norm
    )


def _gated_mlp(h: int, i: int, bias: bool = False) -> int:
    """gate, up, down (SwiGLU/GeGLU); Phi-3's fused gate_up_proj has the same count."""
    return 2 * _linear(h, i, bias) + _linear(i, h, bias)


def _embeddings(ctx: _Ctx, *, tie_default: bool) -> None:
    h, v = ctx.hidden, ctx.vocab
    ctx.add("embeddings", v * h)
    if ctx.tied(tie_default):
        ctx.add("lm_head", 0)
    else:
        ctx.add("lm_head", v * h)


def _routed(ctx: _Ctx, *, experts: int, top_k: int, per_expert: int) -> None:
    ctx.add("experts", experts * per_expert)
    ctx.inactive += max(experts - top_k, 0) * per_expert


# Llama-style decoders (dense and MoE) ----------------------------------------------------------

_LLAMA_STYLE = {
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen2_moe",
    "qwen3",
    "qwen3_moe",
    "qwen3_vl_text",
    "phi3",
    "gemma",
    "gemma2",
    "gemma3_text",
    "llama4_text",
}
_TIED_BY_DEFAULT = {"gemma", "gemma2", "gemma3_text", "gpt2", "bert", "falcon"}


def _llama_style(ctx: _Ctx) -> None:
    fam = ctx.family
    h, n_layers, nh, nkv, hd = ctx.hidden, ctx.layers, ctx.heads, ctx.kv_heads, ctx.head_dim
    _embeddings(ctx, tie_default=fam in _TIED_BY_DEFAULT)

    attention_bias = ctx.flag("attention_bias", False)
    qkv_bias, o_bias, qk_norm, norms = attention_bias, attention_bias, 0, 2
    mlp_bias = ctx.flag("mlp_bias", False) if fam == "llama" else False
    if fam in ("mistral", "mixtral", "phi3"):
        qkv_bias = o_bias = False
    elif fam == "qwen2":
        qkv_bias, o_bias = True, False
    elif fam == "qwen2_moe":
        qkv_bias, o_bias = ctx.flag("qkv_bias", True), False
    elif fam in ("qwen3", "qwen3_moe", "qwen3_vl_text"):
        qk_norm = hd
    elif fam == "gemma2":
        norms = 4
    elif fam == "gemma3_text":
        norms, qk_norm = 4, hd
    per_layer_attn = _attention(h, nh, nkv, hd, qkv_bias=qkv_bias, o_bias=o_bias, qk_norm=qk_norm)

    # which layers are MoE, and with what experts
    is_moe: Callable[[int], bool] = lambda i: False  # noqa: E731
    dense_i = ctx.intermediate if fam != "llama4_text" else ctx.num(None, "intermediate_size_mlp")
    if fam == "mixtral":
        is_moe = lambda i: True  # noqa: E731
    elif fam in ("qwen2_moe", "qwen3_moe"):
        mlp_only = set(ctx.get("mlp_only_layers", []))
        step = ctx.num(None, "decoder_sparse_step", default=1)
        n_exp = ctx.num(ctx.arch.num_experts, "num_experts")
        is_moe = lambda i: i not in mlp_only and n_exp > 0 and (i + 1) % step == 0  # noqa: E731
    elif fam == "llama4_text":
        moe_layers = ctx.get("moe_layers")
        if moe_layers is None:
            step = ctx.num(None, "interleave_moe_layer_step", default=1)
            moe_layers = list(range(step - 1, n_layers, step))
        moe_set = set(moe_layers)
        is_moe = lambda i: i in moe_set  # noqa: E731

    for i in range(n_layers):
        ctx.add("attention", per_layer_attn)
        ctx.add("norms", norms * h)
        if not is_moe(i):
            ctx.add("mlp", _gated_mlp(h, dense_i, mlp_bias))
            continue
        n_exp = ctx.num(ctx.arch.num_experts, "num_local_experts", "num_experts")
        top_k = ctx.num(ctx.arch.experts_per_token, "num_experts_per_tok")
        if fam in ("mixtral", "llama4_text"):
            e_i = ctx.intermediate
        else:
            e_i = ctx.num(ctx.arch.moe_intermediate_size, "moe_intermediate_size")
        ctx.add("router", _linear(h, n_exp))
        _routed(ctx, experts=n_exp, top_k=top_k, per_expert=_gated_mlp(h, e_i))
        if fam == "qwen2_moe":
            ctx.add("shared_experts", _gated_mlp(h, ctx.num(None, "shared_expert_intermediate_size")))
            ctx.add("router", _linear(h, 1))  # shared_expert_gate
        elif fam == "llama4_text":
            ctx.add("shared_experts", _gated_mlp(h, ctx.intermediate))
    ctx.add("norms", h)


# DeepSeek V2 / V3 / V3.2 (MLA + DeepSeekMoE) ---------------------------------------------------


def _deepseek_layer_attention(ctx: _Ctx) -> int:
    h, nh = ctx.hidden, ctx.heads
    mla = ctx.arch.mla
    kv_rank = mla.kv_lora_rank if mla else ctx.num(None, "kv_lora_rank")
    rope = mla.qk_rope_head_dim if mla else ctx.num(None, "qk_rope_head_dim")
    nope = (
        mla.qk_nope_head_dim
        if mla and mla.qk_nope_head_dim is not None
        else ctx.num(None, "qk_nope_head_dim")
    )
    v_hd = mla.v_head_dim if mla and mla.v_head_dim is not None else ctx.num(None, "v_head_dim")
    q_rank = mla.q_lora_rank if mla else ctx.opt("q_lora_rank")
    if q_rank == 0:  # DeepSeek's own inference configs spell "no q LoRA" as 0
        q_rank = None
    bias = ctx.flag("attention_bias", False)
    qk_hd = nope + rope
    if q_rank is None:
        n = _linear(h, nh * qk_hd)
    else:
        n = _linear(h, q_rank, bias) + q_rank + _linear(q_rank, nh * qk_hd)
    n += _linear(h, kv_rank + rope, bias) + kv_rank + _linear(kv_rank, nh * (nope + v_hd))
    n += _linear(nh * v_hd, h, bias)
    if ctx.family == "deepseek_v32":
        idx_heads, idx_hd = ctx.num(None, "index_n_heads"), ctx.num(None, "index_head_dim")
        if q_rank is None:
            raise _Missing("deepseek_v32: the indexer needs q_lora_rank")
        n += _linear(q_rank, idx_heads * idx_hd) + _linear(h, idx_hd) + 2 * idx_hd + _linear(h, idx_heads)
    return n


def _deepseek_layer(ctx: _Ctx, i: int, *, count_into: _Ctx | None = None) -> tuple[int, int]:
    """Parameters of decoder layer ``i`` and, of those, the routed-expert parameters a token skips."""
    h = ctx.hidden
    first_dense = ctx.num(ctx.arch.first_dense_layers, "first_k_dense_replace", default=0)
    freq = ctx.num(None, "moe_layer_freq", default=1)
    n_exp = ctx.opt("n_routed_experts")
    parts: dict[str, int] = {"attention": _deepseek_layer_attention(ctx), "norms": 2 * h}
    skipped = 0
    if n_exp is not None and i >= first_dense and i % freq == 0:
        top_k = ctx.num(ctx.arch.experts_per_token, "num_experts_per_tok")
        e_i = ctx.num(ctx.arch.moe_intermediate_size, "moe_intermediate_size")
        per_expert = _gated_mlp(h, e_i)
        parts["experts"] = n_exp * per_expert
        skipped = (n_exp - top_k) * per_expert
        n_shared = ctx.num(ctx.arch.shared_experts, "n_shared_experts", default=0)
        if n_shared:
            parts["shared_experts"] = _gated_mlp(h, e_i * n_shared)
        parts["router"] = n_exp * h
        if ctx.family != "deepseek_v2" or ctx.get("topk_method") == "noaux_tc":
            parts["router"] += n_exp  # e_score_correction_bias (a persistent buffer, stored in checkpoints)
    else:
        parts["mlp"] = _gated_mlp(h, ctx.intermediate)
    if count_into is not None:
        for k, v in parts.items():
            count_into.add(k, v)
        count_into.inactive += skipped
    return sum(parts.values()), skipped


def _deepseek(ctx: _Ctx) -> None:
    h, v = ctx.hidden, ctx.vocab
    _embeddings(ctx, tie_default=False)
    n_layers = ctx.layers
    for i in range(n_layers):
        _deepseek_layer(ctx, i, count_into=ctx)
    ctx.add("norms", h)
    n_mtp = ctx.num(ctx.arch.mtp_layers or None, "num_nextn_predict_layers", default=0)
    if n_mtp:
        # DeepSeek-V3 README_WEIGHTS.md: each MTP module = one decoder layer (model.layers.61) + enorm, hnorm,
        # eh_proj (2H -> H) + shared_head.norm; its embed_tokens / shared_head.head share parameters with the
        # main model but are stored again in the checkpoint.
        for j in range(n_mtp):
            layer, _ = _deepseek_layer(ctx, n_layers + j)
            ctx.mtp += layer + 2 * h + _linear(2 * h, h) + h + 2 * v * h
        ctx.notes.append(
            f"{n_mtp} MTP module(s) = {ctx.mtp:,} parameters, in the checkpoint but not in total "
            f"(their embedding and output head, {2 * n_mtp * v * h:,}, duplicate the main model's)"
        )


# gpt-oss -------------------------------------------------------------------------------------


def _gpt_oss(ctx: _Ctx) -> None:
    h, nh, nkv, hd, i = ctx.hidden, ctx.heads, ctx.kv_heads, ctx.head_dim, ctx.intermediate
    _embeddings(ctx, tie_default=False)
    bias = ctx.flag("attention_bias", True)
    n_exp = ctx.num(ctx.arch.num_experts, "num_local_experts")
    top_k = ctx.num(ctx.arch.experts_per_token, "num_experts_per_tok", "experts_per_token")
    for _ in range(ctx.layers):
        ctx.add("attention", _attention(h, nh, nkv, hd, qkv_bias=bias, o_bias=bias) + nh)  # + sinks
        ctx.add("router", _linear(h, n_exp, True))
        # gate_up_proj [E, H, 2I] + bias [E, 2I]; down_proj [E, I, H] + bias [E, H]
        _routed(ctx, experts=n_exp, top_k=top_k, per_expert=_linear(h, 2 * i, True) + _linear(i, h, True))
        ctx.add("norms", 2 * h)
    ctx.add("norms", h)


# GPT-2, BERT, Falcon ---------------------------------------------------------------------------


def _gpt2(ctx: _Ctx) -> None:
    h, v = ctx.hidden, ctx.vocab
    inner = ctx.opt("n_inner") or 4 * h
    positions = ctx.num(None, "n_positions", "max_position_embeddings")
    ctx.add("embeddings", v * h + positions * h)
    ctx.add("lm_head", 0 if ctx.tied(True) else v * h)
    for _ in range(ctx.layers):
        ctx.add("attention", _linear(h, 3 * h, True) + _linear(h, h, True))
        ctx.add("mlp", _linear(h, inner, True) + _linear(inner, h, True))
        ctx.add("norms", 2 * 2 * h)  # ln_1, ln_2 (LayerNorm weight + bias)
    ctx.add("norms", 2 * h)  # ln_f
    ctx.notes.append(
        "checkpoints saved by older transformers also hold h.*.attn.bias (and attn.masked_bias) causal-mask "
        f"buffers, {positions}x{positions} per layer: tensors in the header, not parameters"
    )


def _bert(ctx: _Ctx) -> None:
    h, v, i = ctx.hidden, ctx.vocab, ctx.intermediate
    positions = ctx.num(None, "max_position_embeddings")
    types = ctx.num(None, "type_vocab_size", default=2)
    ctx.add("embeddings", v * h + positions * h + types * h)
    ctx.add("norms", 2 * h)  # embeddings.LayerNorm
    for _ in range(ctx.layers):
        ctx.add("attention", 4 * _linear(h, h, True))
        ctx.add("mlp", _linear(h, i, True) + _linear(i, h, True))
        ctx.add("norms", 2 * 2 * h)
    archs = [str(a) for a in ctx.root.get("architectures") or []]
    arch = archs[0] if archs else "BertModel"
    pooler = _linear(h, h, True)
    mlm = (
        _linear(h, h, True) + 2 * h + v
    )  # transform.dense + transform.LayerNorm + decoder bias (weight tied)
    if arch == "BertModel":
        ctx.add("head", pooler)
    elif arch == "BertForMaskedLM":
        ctx.add("head", mlm)
    elif arch == "BertForPreTraining":
        ctx.add("head", pooler + mlm + _linear(h, 2, True))
    else:
        ctx.add("head", 0)
        ctx.missing.append(f"task head of {arch} not counted (encoder counted)")
    if not ctx.tied(True):
        ctx.missing.append("untied BERT decoder weight not counted")
    ctx.notes.append(
        "checkpoints saved by older transformers also hold the int64 embeddings.position_ids buffer "
        f"({positions} elements): a tensor in the header, not a parameter"
    )


def _falcon(ctx: _Ctx) -> None:
    h, nh, v = ctx.hidden, ctx.heads, ctx.vocab
    hd = h // nh
    new_arch = ctx.flag("new_decoder_architecture", False)
    bias = ctx.flag("bias", False)
    if new_arch:
        nkv = ctx.num(None, "num_kv_heads", "n_head_kv", default=nh)
        qkv = (nh + 2 * nkv) * hd
    elif ctx.flag("multi_query", True):
        qkv = h + 2 * hd
    else:
        qkv = 3 * h
    ffn = ctx.opt("ffn_hidden_size") or 4 * h
    parallel = ctx.flag("parallel_attn", True)
    n_ln = ctx.opt("num_ln_in_parallel_attn") or (2 if new_arch else None)
    lns = 2 if (not parallel or n_ln == 2) else 1
    ctx.add("embeddings", v * h)
    ctx.add("lm_head", 0 if ctx.tied(True) else v * h)
    for _ in range(ctx.layers):
        ctx.add("attention", _linear(h, qkv, bias) + _linear(h, h, bias))
        ctx.add("mlp", _linear(h, ffn, bias) + _linear(ffn, h, bias))
        ctx.add("norms", lns * 2 * h)
    ctx.add("norms", 2 * h)
    if "tie_word_embeddings" not in ctx.root and ctx.tied(True):
        ctx.notes.append(
            "tie_word_embeddings is absent: FalconConfig defaults to True, so lm_head shares the embedding "
            "(a checkpoint may still store a separate lm_head.weight, e.g. falcon-180B)"
        )


# Nemotron-H (Mamba-2 / attention / MLP / MoE hybrid) and Nemotron-NAS (DeciLM) -----------------


def _nemotron_h_pattern(ctx: _Ctx) -> str:
    pattern = ctx.get("hybrid_override_pattern")
    if isinstance(pattern, str) and pattern:
        return pattern
    types = ctx.get("layers_block_type") or ctx.get("layer_types")
    if isinstance(types, list):
        table = {"mamba": "M", "attention": "*", "mlp": "-", "moe": "E"}
        try:
            return "".join(table[str(t)] for t in types)
        except KeyError as exc:
            raise _Missing(f"nemotron_h: unknown block type {exc}") from None
    raise _Missing("nemotron_h: no hybrid_override_pattern / layers_block_type")


def _nemotron_h(ctx: _Ctx) -> None:
    h = ctx.hidden
    _embeddings(ctx, tie_default=False)
    pattern = _nemotron_h_pattern(ctx)
    if len(pattern) != ctx.layers:
        ctx.notes.append(f"hybrid pattern has {len(pattern)} blocks, num_hidden_layers is {ctx.layers}")
    mlp_bias = ctx.flag("mlp_bias", False)
    for block in pattern:
        ctx.add("norms", h)
        if block == "M":
            n_heads = ctx.num(None, "mamba_num_heads")
            inner = n_heads * ctx.num(None, "mamba_head_dim")
            groups, state = ctx.num(None, "n_groups", default=1), ctx.num(None, "ssm_state_size")
            kernel = ctx.num(None, "conv_kernel")
            conv_dim = inner + 2 * groups * state
            use_bias = ctx.flag("use_bias", False)
            n = _linear(h, inner + conv_dim + n_heads, use_bias)  # in_proj
            n += conv_dim * kernel + (conv_dim if ctx.flag("use_conv_bias", True) else 0)  # depthwise conv1d
            n += 3 * n_heads + inner  # dt_bias, A_log, D, gated RMSNorm
            n += _linear(inner, h, use_bias)  # out_proj
            ctx.add("mamba", n)
        elif block == "*":
            hd = ctx.num(None, "head_dim", default=h // ctx.heads)
            bias = ctx.flag("attention_bias", False)
            ctx.add("attention", _attention(h, ctx.heads, ctx.kv_heads, hd, qkv_bias=bias, o_bias=bias))
        elif block == "-":
            i = ctx.intermediate
            ctx.add("mlp", _linear(h, i, mlp_bias) + _linear(i, h, mlp_bias))
        elif block == "E":
            n_exp = ctx.num(ctx.arch.num_experts, "n_routed_experts")
            top_k = ctx.num(ctx.arch.experts_per_token, "num_experts_per_tok")
            e_i = ctx.num(ctx.arch.moe_intermediate_size, "moe_intermediate_size")
            latent = ctx.opt("moe_latent_size")
            e_in = latent or h
            _routed(ctx, experts=n_exp, top_k=top_k, per_expert=2 * e_in * e_i)  # up + down, no gate
            s_i = ctx.num(None, "moe_shared_expert_intermediate_size")
            ctx.add("shared_experts", _linear(h, s_i, mlp_bias) + _linear(s_i, h, mlp_bias))
            ctx.add("router", n_exp * h + n_exp)  # weight + e_score_correction_bias
            if latent:
                ctx.add("mlp", _linear(h, latent, mlp_bias) + _linear(latent, h, mlp_bias))
        else:
            raise _Missing(f"nemotron_h: unknown block type {block!r} in hybrid_override_pattern")
    ctx.add("norms", h)  # norm_f


def _ffn_mult_to_intermediate(ffn_mult: float, h: int) -> int:
    """DeciLM ``_ffn_mult_to_intermediate_size``: int(2*mult*H/3) rounded up to a multiple of 256."""
    n = int(2 * ffn_mult * h / 3)
    return n if n % 256 == 0 else n + 256 - n % 256


def _nemotron_nas(ctx: _Ctx) -> None:
    h, nh = ctx.hidden, ctx.heads
    hd = h // nh
    _embeddings(ctx, tie_default=False)
    blocks = ctx.get("block_configs")
    if not isinstance(blocks, list) or len(blocks) != ctx.layers:
        raise _Missing("nemotron-nas: block_configs missing or not one per layer")
    mlp_bias = ctx.flag("mlp_bias", False)
    attn_bias = ctx.flag("attention_bias", False)
    for b in blocks:
        attn, ffn = b.get("attention") or {}, b.get("ffn") or {}
        if not attn.get("no_op"):
            ctx.add("norms", h)
            if attn.get("replace_with_linear"):
                ctx.add("attention", _linear(h, h))
            else:
                nkv = nh // int(attn["n_heads_in_group"])
                ctx.add("attention", _attention(h, nh, nkv, hd, qkv_bias=attn_bias, o_bias=attn_bias))
        if not ffn.get("no_op"):
            ctx.add("norms", h)
            if ffn.get("replace_with_linear"):
                ctx.add("mlp", _linear(h, h))
            else:
                i = ffn.get("intermediate_size") or _ffn_mult_to_intermediate(float(ffn["ffn_mult"]), h)
                ctx.add("mlp", _gated_mlp(h, int(i), mlp_bias))
    ctx.add("norms", h)


# Mamba-1, Qwen3-Next (gated DeltaNet hybrid), T5 ------------------------------------------------


def _mamba1(ctx: _Ctx) -> None:
    """Mamba / FalconMamba (transformers ``MambaMixer``; FalconMamba's extra RMSNorms have no weights)."""
    h = ctx.hidden
    ctx.add("embeddings", ctx.vocab * h)
    ctx.add("lm_head", 0 if ctx.tied(ctx.family == "falcon_mamba") else ctx.vocab * h)
    mamba = ctx.arch.mamba
    # theory.md 1.2: prefer an explicit intermediate_size over expand x hidden_size
    inner = ctx.num(mamba.intermediate_size if mamba else None, "intermediate_size", default=0)
    if not inner:
        inner = int(float(ctx.get("expand", 2)) * h)
    state = ctx.num(mamba.state_size if mamba else None, "state_size")
    kernel = ctx.num(mamba.conv_kernel if mamba else None, "conv_kernel")
    rank = ctx.get("time_step_rank", "auto")
    dt_rank = -(-h // 16) if rank == "auto" else int(rank)
    use_bias = ctx.flag("use_bias", False)
    per_layer = (
        _linear(h, 2 * inner, use_bias)  # in_proj
        + inner * kernel
        + (inner if ctx.flag("use_conv_bias", True) else 0)  # depthwise conv1d
        + _linear(inner, dt_rank + 2 * state)  # x_proj
        + _linear(dt_rank, inner, True)  # dt_proj
        + inner * state
        + inner  # A_log, D
        + _linear(inner, h, use_bias)  # out_proj
    )
    for _ in range(ctx.layers):
        ctx.add("mamba", per_layer)
        ctx.add("norms", h)
    ctx.add("norms", h)


def _qwen3_next(ctx: _Ctx) -> None:
    h, nh, nkv, hd = ctx.hidden, ctx.heads, ctx.kv_heads, ctx.head_dim
    _embeddings(ctx, tie_default=False)
    n_layers = ctx.layers
    types = ctx.get("layer_types")
    if not isinstance(types, list) or len(types) != n_layers:
        interval = ctx.num(None, "full_attention_interval", default=4)
        types = ["linear_attention" if (i + 1) % interval else "full_attention" for i in range(n_layers)]
    bias = ctx.flag("attention_bias", False)
    nk, nv = ctx.num(None, "linear_num_key_heads"), ctx.num(None, "linear_num_value_heads")
    dk, dv = ctx.num(None, "linear_key_head_dim"), ctx.num(None, "linear_value_head_dim")
    kernel = ctx.num(None, "linear_conv_kernel_dim")
    key_dim, value_dim = nk * dk, nv * dv
    conv_dim = 2 * key_dim + value_dim
    linear = (
        conv_dim * kernel  # conv1d, no bias
        + _linear(h, 2 * key_dim + 2 * value_dim)  # in_proj_qkvz
        + _linear(h, 2 * nv)  # in_proj_ba
        + 2 * nv  # dt_bias, A_log
        + dv  # gated RMSNorm over the value head dim
        + _linear(value_dim, h)  # out_proj
    )
    # gated attention: q_proj emits query and gate (2 x heads x head_dim)
    full = _attention(h, nh, nkv, hd, qkv_bias=bias, o_bias=bias, qk_norm=hd) + _linear(h, nh * hd, bias)
    mlp_only = set(ctx.get("mlp_only_layers", []))
    step = ctx.num(None, "decoder_sparse_step", default=1)
    n_exp = ctx.num(ctx.arch.num_experts, "num_experts")
    for i, t in enumerate(types):
        if t == "linear_attention":
            ctx.add("linear_attention", linear)
        else:
            ctx.add("attention", full)
        ctx.add("norms", 2 * h)
        if i not in mlp_only and n_exp > 0 and (i + 1) % step == 0:
            top_k = ctx.num(ctx.arch.experts_per_token, "num_experts_per_tok")
            e_i = ctx.num(ctx.arch.moe_intermediate_size, "moe_intermediate_size")
            ctx.add("router", _linear(h, n_exp) + _linear(h, 1))  # router + shared_expert_gate
            _routed(ctx, experts=n_exp, top_k=top_k, per_expert=_gated_mlp(h, e_i))
            ctx.add("shared_experts", _gated_mlp(h, ctx.num(None, "shared_expert_intermediate_size")))
        else:
            ctx.add("mlp", _gated_mlp(h, ctx.intermediate))
    ctx.add("norms", h)


def _t5(ctx: _Ctx) -> None:
    """T5 / mT5 encoder-decoder (transformers ``T5Model``): shared embedding, relative position bias in
    the first layer of each stack, weight-only layer norms, (gated-)ReLU/GELU feed-forward."""
    d, v = ctx.num(None, "d_model"), ctx.vocab
    heads, d_kv, d_ff = ctx.num(None, "num_heads"), ctx.num(None, "d_kv"), ctx.num(None, "d_ff")
    enc_layers = ctx.num(None, "num_layers")
    dec_layers = ctx.num(None, "num_decoder_layers", default=enc_layers)
    buckets = ctx.num(None, "relative_attention_num_buckets", default=32)
    inner = heads * d_kv
    ff_proj = str(ctx.get("feed_forward_proj", "relu"))
    ff = (3 if ff_proj.startswith("gated-") else 2) * d * d_ff
    attn = 4 * d * inner
    ctx.add("embeddings", v * d)
    ctx.add("lm_head", 0 if ctx.tied(True) else v * d)
    for stack_layers, cross in ((enc_layers, False), (dec_layers, True)):
        ctx.add("attention", buckets * heads)  # relative_attention_bias of the stack's first layer
        for _ in range(stack_layers):
            ctx.add("attention", attn * (2 if cross else 1))
            ctx.add("mlp", ff)
            ctx.add("norms", (3 if cross else 2) * d)
        ctx.add("norms", d)  # final_layer_norm


# Vision towers ---------------------------------------------------------------------------------


def _qwen3_vl_vision(ctx: _Ctx) -> None:
    """Qwen3-VL vision tower + patch merger + deepstack mergers (transformers ``Qwen3VLVisionModel``)."""
    vc = ctx.root.get("vision_config")
    if not isinstance(vc, Mapping):
        return
    try:
        h, i, depth = int(vc["hidden_size"]), int(vc["intermediate_size"]), int(vc["depth"])
        patch, t_patch, chans = int(vc["patch_size"]), int(vc["temporal_patch_size"]), int(vc["in_channels"])
        out, merge = int(vc["out_hidden_size"]), int(vc["spatial_merge_size"])
        n_pos = int(vc["num_position_embeddings"])
        deepstack = len(vc.get("deepstack_visual_indexes") or [])
    except (KeyError, TypeError, ValueError) as exc:
        ctx.missing.append(f"vision tower: vision_config lacks {exc}")
        return
    n = _linear(chans * t_patch * patch * patch, h, True) + n_pos * h  # patch_embed (Conv3d) + pos_embed
    block = (
        2 * 2 * h + _linear(h, 3 * h, True) + _linear(h, h, True) + _linear(h, i, True) + _linear(i, h, True)
    )
    n += depth * block
    merged = h * merge * merge
    ctx.add("vision", n)
    # merger: LayerNorm(h) + fc1 (merged -> merged) + fc2 (merged -> out);
    # the deepstack mergers normalise the merged width instead
    ctx.add("projector", 2 * h + _linear(merged, merged, True) + _linear(merged, out, True))
    ctx.add(
        "projector", deepstack * (2 * merged + _linear(merged, merged, True) + _linear(merged, out, True))
    )


def _llama4_vision(ctx: _Ctx) -> None:
    """Llama 4 vision encoder + adapter + projector (transformers ``Llama4VisionModel``)."""
    vc = ctx.root.get("vision_config")
    if not isinstance(vc, Mapping):
        return
    try:
        h, i, depth = int(vc["hidden_size"]), int(vc["intermediate_size"]), int(vc["num_hidden_layers"])
        patch, img, chans = int(vc["patch_size"]), int(vc["image_size"]), int(vc.get("num_channels", 3))
        out_dim = int(vc["vision_output_dim"])
        proj_in, proj_out = int(vc["projector_input_dim"]), int(vc["projector_output_dim"])
        text_h = ctx.hidden
    except (KeyError, TypeError, ValueError) as exc:
        ctx.missing.append(f"vision tower: vision_config lacks {exc}")
        return
    n_patches = (img // patch) ** 2 + 1
    n = _linear(chans * patch * patch, h)  # unfold + linear patch embedding, no bias
    n += h + n_patches * h  # class embedding + positional embedding
    n += 2 * (2 * h)  # layernorm_pre, layernorm_post
    block = 4 * _linear(h, h, True) + _linear(h, i, True) + _linear(i, h, True) + 2 * 2 * h
    n += depth * block
    # pixel-shuffle adapter MLP: fc1 (intermediate_size -> projector_input_dim), fc2, no biases
    n += _linear(i, proj_in) + _linear(proj_out, proj_out)
    ctx.add("vision", n)
    ctx.add("projector", _linear(out_dim, text_h))  # multi_modal_projector.linear_1, no bias


# Dispatch --------------------------------------------------------------------------------------

_TEXT_KEYS = ("text_config", "decoder", "generator", "language_config", "llm_config")

_FAMILIES: dict[str, Callable[[_Ctx], None]] = {
    **dict.fromkeys(_LLAMA_STYLE, _llama_style),
    "deepseek_v2": _deepseek,
    "deepseek_v3": _deepseek,
    "deepseek_v32": _deepseek,
    "kimi_k2": _deepseek,
    "gpt_oss": _gpt_oss,
    "gpt2": _gpt2,
    "bert": _bert,
    "falcon": _falcon,
    "nemotron_h": _nemotron_h,
    "nemotron-nas": _nemotron_nas,
    "mamba": _mamba1,
    "falcon_mamba": _mamba1,
    "qwen3_next": _qwen3_next,
    "t5": _t5,
    "mt5": _t5,
}
# multimodal roots: (text family when the text config has no model_type, vision counter or None)
_MULTIMODAL: dict[str, tuple[str, Callable[[_Ctx], None] | None]] = {
    "qwen3_vl": ("qwen3_vl_text", _qwen3_vl_vision),
    "llama4": ("llama4_text", _llama4_vision),
    "gemma3": ("gemma3_text", None),
    "mistral3": ("mistral", None),
}


def _text_config(config: Mapping[str, Any], arch: Architecture) -> Mapping[str, Any]:
    key = arch.text_config_key
    if key:
        node: Any = config
        for part in key.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        if isinstance(node, Mapping):
            return node
    for k in _TEXT_KEYS:
        v = config.get(k)
        if isinstance(v, Mapping):
            return v
    thinker = config.get("thinker_config")
    if isinstance(thinker, Mapping) and isinstance(thinker.get("text_config"), Mapping):
        return thinker["text_config"]
    return config


def expected_parameters(config: Mapping[str, Any] | None, arch: Architecture) -> ConfigParams:
    """Parameters of a model of this config, by component; ``missing`` says what is not covered."""
    if not config:
        return ConfigParams(missing=["no config.json"])
    tc = _text_config(config, arch)
    root_type = str(config.get("model_type") or "")
    family = str(tc.get("model_type") or "") if tc is not config else root_type
    vision: Callable[[_Ctx], None] | None = None
    has_vision = tc is not config and isinstance(config.get("vision_config"), Mapping)
    if root_type in _MULTIMODAL:
        text_family, vision = _MULTIMODAL[root_type]
        family = family or text_family
        if family == root_type:
            family = text_family
    elif family == "" and root_type:
        family = root_type
    ctx = _Ctx(config, tc, arch, family)
    builder = _FAMILIES.get(family)
    if builder is None:
        return ConfigParams(
            family=family or None, missing=[f"no parameter formula for model_type {family!r}"]
        )
    try:
        builder(ctx)
        if has_vision and vision is not None:
            vision(ctx)
        elif has_vision or root_type in _MULTIMODAL:
            why = "no formula for it" if has_vision else "config.json has no vision_config"
            ctx.missing.append(f"vision tower of {root_type or family} not counted ({why}); text model only")
    except _Missing as exc:
        return ConfigParams(family=family, missing=[str(exc)])
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        return ConfigParams(
            family=family, missing=[f"{family}: malformed config ({type(exc).__name__}: {exc})"]
        )
    total = sum(ctx.counts.values())
    if total <= 0 or any(v < 0 for v in ctx.counts.values()):
        return ConfigParams(family=family, missing=[f"{family}: config dimensions give no parameters"])
    return ConfigParams(
        family=family,
        total=total,
        active=total - ctx.inactive,
        components={k: ctx.counts[k] for k in COMPONENTS if k in ctx.counts},
        mtp=ctx.mtp,
        missing=ctx.missing,
        notes=ctx.notes,
    )
