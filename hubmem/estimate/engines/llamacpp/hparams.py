"""What llama.cpp's ``llama_hparams`` holds for the memory rules, from the normalised architecture (read from
GGUF metadata, or from config.json for a model llama.cpp would run once converted).

Per layer (src/llama-hparams.cpp @ 0c1e570): ``n_head_kv(il)`` (0 for recurrent layers), ``n_embd_head_k(il)``
/ ``n_embd_head_v(il)``, ``is_swa(il)``, ``is_recr(il)``. MLA (``is_mla()``): one cached latent of
``kv_lora_rank + rope`` values per token and no V tensor. Recurrent state rows (``n_embd_r()`` /
``n_embd_s()``, src/llama-hparams.cpp:208-258): Mamba ``(d_conv - 1) x (d_inner + 2 n_group d_state)`` and
``d_state x d_inner`` (Mamba-1 has no groups), LFM2 ``n_embd x (L_cache - 1)`` and none, gated DeltaNet
the Mamba formulas with ``d_inner = value heads x value dim``, ``d_state = key dim``, ``n_group = key heads``.
"""

from __future__ import annotations

import msgspec

from hubmem.schema.architecture import Architecture

ATTENTION = ("full", "sliding", "chunked", "mla")
RECURRENT = ("mamba", "mamba2", "conv", "linear")
# convert_hf_to_gguf.py @ 0c1e570: Hugging Face classes and the llama.cpp architecture they convert to
# (conversion/llama.py ``LlamaModel``: its causal-LM classes, the multimodal wrappers and EAGLE-3 drafts it
# also registers left to their model type; conversion/qwen.py ``Qwen2Model``, ``Qwen3Model``,
# ``Qwen3MoeModel``), and for a config without ``architectures`` the model types of these classes. None of
# these converters writes a sliding window and none of these architectures' ``load_arch_hparams``
# (src/models/llama.cpp, qwen2.cpp, qwen3.cpp, qwen3moe.cpp) reads one.
CONVERTED = {"LLaMAForCausalLM": "llama", "LlamaForCausalLM": "llama", "MistralForCausalLM": "llama"}
CONVERTED |= {"MixtralForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2", "Qwen3ForCausalLM": "qwen3"}
CONVERTED |= {"Qwen3MoeForCausalLM": "qwen3moe"}
CONVERTED_TYPES = {
    "llama": "llama",
    "mistral": "llama",
    "mixtral": "llama",
    "qwen2": "qwen2",
    "qwen3": "qwen3",
}
CONVERTED_TYPES |= {"qwen3_moe": "qwen3moe"}
NO_WINDOW = set(CONVERTED.values())


class Hparams(msgspec.Struct, frozen=True):
    arch: str
    n_layer: int
    n_embd: int
    n_vocab: int
    n_ctx_train: int
    n_head: list[int]
    n_head_kv: list[int]  # 0 where a layer holds no KV
    head_k: list[int]
    head_v: list[int]
    is_swa: list[bool]
    n_swa: int
    is_recr: list[bool]
    mla: bool
    n_ff: int
    n_ff_exp: int
    n_expert_used: int
    n_embd_r: int = 0
    n_embd_s: int = 0
    missing: list[str] = []

    @property
    def recurrent_only(self) -> bool:
        """``llm_arch_is_recurrent``: a ``llama_memory_recurrent`` and no KV cache at all."""
        return all(self.is_recr) and bool(self.is_recr)

    @property
    def n_embd_v_gqa_max(self) -> int:
        return max((v * h for v, h in zip(self.head_v, self.n_head_kv, strict=True)), default=0)


def _per_layer(values: list[int] | None, default: int | None, n: int) -> list[int]:
    if values is not None and len(values) >= n:
        return [v or 0 for v in values[:n]]
    return [default or 0] * n


def _recurrent_rows(arch: Architecture) -> tuple[int, int, str | None]:
    """(n_embd_r, n_embd_s) of the recurrent layers, or a missing-dimension message."""
    kinds = set(arch.layer_kinds)
    if "conv" in kinds:
        sc = arch.short_conv
        return (sc.dim * (sc.conv_kernel - 1), 0, None) if sc else (0, 0, "short-conv dimensions")
    if "linear" in kinds:
        la = arch.linear_attention
        if la is None or not la.conv_kernel:
            return 0, 0, "gated DeltaNet dimensions"
        d_inner = la.num_value_heads * la.value_head_dim
        r = (la.conv_kernel - 1) * (d_inner + 2 * la.num_key_heads * la.key_head_dim)
        return r, la.key_head_dim * d_inner, None
    if kinds & {"mamba", "mamba2"}:
        m = arch.mamba
        if m is None:
            return 0, 0, "Mamba dimensions"
        groups = m.n_groups if m.version == 2 else 0
        r = (m.conv_kernel - 1) * (m.intermediate_size + 2 * groups * m.state_size)
        return r, m.state_size * m.intermediate_size, None
    return 0, 0, None


def _missing(arch: Architecture, kv: list[int], head_k: list[int]) -> list[str]:
    """What the llama.cpp rules need and the architecture does not give."""
    missing = [
        f"llama.cpp view: {what}"
        for value, what in (
            (arch.layer_kinds, "no layers"),
            (arch.hidden_size, "no hidden size"),
            (arch.vocab_size, "no vocabulary size"),
        )
        if not value
    ]
    attends = [il for il, kind in enumerate(arch.layer_kinds) if kind in ATTENTION]
    if any(not kv[il] or not head_k[il] for il in attends):
        missing.append("llama.cpp view: KV heads or head size unknown")
    if "unknown" in arch.layer_kinds:
        missing.append("llama.cpp view: a layer of unknown kind")
    return missing


def gguf_arch(arch: Architecture) -> str:
    """llama.cpp's architecture for this model: a GGUF's own (hubmem's ``model_type``), else what
    convert_hf_to_gguf.py converts the config's first ``architectures`` class to where hubmem knows it
    (:data:`CONVERTED`), else the model type."""
    model_type = arch.model_type or "?"
    if arch.architectures:
        return CONVERTED.get(arch.architectures[0], model_type)
    return CONVERTED_TYPES.get(model_type, model_type)


def hparams_of(arch: Architecture) -> Hparams:
    """llama.cpp's view of the architecture; what it lacks is named in ``missing``."""
    kinds = list(arch.layer_kinds)
    n = len(kinds)
    mla = arch.mla is not None
    kv = _per_layer(arch.layer_kv_heads, 1 if mla else arch.num_kv_heads, n)
    kv = [h if kind in ATTENTION else 0 for h, kind in zip(kv, kinds, strict=True)]
    head_k = _per_layer(arch.layer_head_dims, arch.head_dim, n)
    head_v = _per_layer(arch.layer_head_dims, arch.v_head_dim or arch.head_dim, n)
    if mla and arch.mla is not None:
        head_v = [arch.mla.kv_lora_rank] * n  # GGUF value_length = kv_lora_rank (V is a view of the latent)
    missing = _missing(arch, kv, head_k)
    r, s, lacking = _recurrent_rows(arch)
    if lacking:
        missing.append(f"llama.cpp view: {lacking} unknown")
    heads = arch.num_attention_heads or 0
    name = gguf_arch(arch)
    # a Mistral / Qwen2 config's ``sliding_window`` leaves every layer full attention in llama.cpp
    swa = name not in NO_WINDOW
    return Hparams(
        arch=name,
        n_layer=n,
        n_embd=arch.hidden_size or 0,
        n_vocab=arch.vocab_size or 0,
        n_ctx_train=arch.max_context or 0,
        n_head=[heads] * n,
        n_head_kv=kv,
        head_k=head_k,
        head_v=head_v,
        is_swa=[swa and k in ("sliding", "chunked") for k in kinds],
        n_swa=((arch.attention_chunk_size if "chunked" in kinds else arch.sliding_window) or 0) if swa else 0,
        is_recr=[k in RECURRENT for k in kinds],
        mla=mla,
        n_ff=arch.intermediate_size or 0,
        n_ff_exp=arch.moe_intermediate_size or 0,
        n_expert_used=arch.experts_per_token or 0 if arch.num_experts else 0,
        n_embd_r=r,
        n_embd_s=s,
        missing=missing,
    )
