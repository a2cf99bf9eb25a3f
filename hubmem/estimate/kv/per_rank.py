"""The architecture one GPU rank sees under tensor parallelism (theory.md 2.1; vLLM
``ModelConfig.get_num_kv_heads``, ``QKVParallelLinear``): KV heads ``max(1, nkv // tp)`` (replicated when
``nkv < tp``), recurrent heads and channels split likewise, MLA latents not split."""

from __future__ import annotations

from typing import Any

from hubmem.schema.architecture import Architecture


def arch_for_tp(arch: Architecture, tp: int) -> Architecture:
    """The per-GPU architecture under tensor parallel ``tp``: KV heads ``max(1, nkv // tp)`` (theory 2.1,
    vLLM ``get_num_kv_heads``); recurrent heads/channels split likewise; MLA latents are not split."""
    if tp == 1:
        return arch
    update: dict[str, Any] = {}
    nkv = arch.num_kv_heads or arch.num_attention_heads
    if nkv:
        update["num_kv_heads"] = max(1, nkv // tp)
    if arch.layer_kv_heads is not None:
        update["layer_kv_heads"] = [max(1, n // tp) if n else n for n in arch.layer_kv_heads]
    if arch.mamba is not None:
        m = arch.mamba
        update["mamba"] = m.model_copy(
            update={
                "intermediate_size": max(1, m.intermediate_size // tp),
                "num_heads": max(1, m.num_heads // tp) if m.num_heads else m.num_heads,
                "n_groups": max(1, m.n_groups // tp),
            }
        )
    if arch.linear_attention is not None:
        la = arch.linear_attention
        update["linear_attention"] = la.model_copy(
            update={
                "num_key_heads": max(1, la.num_key_heads // tp),
                "num_value_heads": max(1, la.num_value_heads // tp),
            }
        )
    return arch.model_copy(update=update)
