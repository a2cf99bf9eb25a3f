"""What the graph builders need: the model's dimensions (``llama_hparams``) and one reserved batch
(``llama_context::graph_reserve``, src/llama-context.cpp: ``n_tokens`` rounded up to a multiple of
``n_seqs``, ``n_outputs``, a full KV cache of ``n_kv`` cells per stream)."""

from __future__ import annotations

import msgspec


class MoE(msgspec.Struct, frozen=True):
    """``build_moe_ffn``'s parameters (src/llama-graph.cpp): experts, the gating function ("softmax" /
    "sigmoid"), whether the chosen weights are renormalised (``norm_w``) and scaled, a selection bias
    (``exp_probs_b``), the shared expert's width and the leading dense layers (DeepSeek-2)."""

    n_expert: int
    n_expert_used: int
    n_ff_exp: int
    gating: str = "softmax"
    norm_w: bool = False
    w_scale: float = 0.0
    probs_bias: bool = False
    n_ff_shexp: int = 0
    n_dense_lead: int = 0


class MLA(msgspec.Struct, frozen=True):
    """DeepSeek-2's multi-head latent attention (src/models/deepseek2.cpp, ``is_mla()``)."""

    kv_lora_rank: int
    n_rot: int  # qk_rope_head_dim
    head_k: int  # n_embd_head_k_mla = nope + rope
    head_v: int  # n_embd_head_v_mla
    q_lora_rank: int  # 0: "lite", one wq


class GraphSpec(msgspec.Struct, frozen=True):
    arch: str  # the builder: "llama", "qwen2", "qwen3", "qwen3moe", "deepseek2", "lfm2", "mamba", "gemma3"
    n_layer: int
    n_embd: int
    n_vocab: int
    n_head: int
    n_head_kv: int
    head_k: int
    head_v: int
    n_ff: int
    recurrent: tuple[bool, ...]  # per layer: a recurrent (LFM2 short-conv, Mamba) layer
    conv_kernel: int = 0  # LFM2 L_cache, Mamba d_conv
    ssm: tuple[int, int, int] = (0, 0, 0)  # Mamba-1 d_inner, d_state, dt_rank
    moe: MoE | None = None
    mla: MLA | None = None
    # the reserved batch and the memory
    n_tokens: int = 512
    n_seqs: int = 1
    n_outputs: int = 512
    n_kv: int = 512  # cells per stream the attention spans
    swa: tuple[bool, ...] = ()  # per layer: a sliding-window layer (iSWA: its own cache of n_kv_swa cells)
    n_kv_swa: int = 0
    n_stream: int = 1  # KV streams (1 with --kv-unified)
    n_embd_v_gqa_max: int = 0
    flash: bool = False
    type_k: str = "f16"
    type_v: str = "f16"
    rot: tuple[int, int] = (0, 0)  # the Hadamard rotation sizes of K and V (quantized caches), 0 = none
    rs_cells: int = 1  # recurrent-state cells
    qkv_bias: tuple[bool, bool, bool] = (False, False, False)  # build_qkv: Q, K, V projections with a bias

    @property
    def v_trans(self) -> bool:
        """``llama_kv_cache``: V is stored transposed without flash attention."""
        return not self.flash
