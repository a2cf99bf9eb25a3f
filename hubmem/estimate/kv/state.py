"""Recurrent state per sequence: Mamba-1, Mamba-2, gated DeltaNet, lightning attention, short conv
(docs/theory.md 2.5). The state is per sequence and independent of context length.

Shapes (vLLM ``MambaStateShapeCalculator`` @02d710837549; transformers ``LinearAttentionLayer``):

=============  =====================================================  ==================================
kind           conv state (columns x channels)                        SSM / temporal state
=============  =====================================================  ==================================
mamba (v1)     ``k' x intermediate``                                  ``intermediate x state_size``
mamba2         ``k' x (intermediate + 2 n_groups state_size)``        ``num_heads x head_dim x state_size``
gated DeltaNet ``k' x (2 key_head_dim nk + value_head_dim nv)``       ``nv x value_head_dim x key_head_dim``
lightning      none                                                   ``num_heads x head_dim x head_dim``
short conv     ``k' x dim``                                           none
=============  =====================================================  ==================================

``k'`` = ``conv_kernel - 1`` in vLLM ("the first column is not needed") and ``conv_kernel`` in
transformers, whose ``LinearAttentionLayer.update_conv_state`` keeps the last ``conv_kernel`` columns.

Dtypes. vLLM: conv = ``mamba_cache_dtype`` ("auto" = model dtype); SSM = ``mamba_ssm_cache_dtype``,
"auto" = the conv dtype, except Nemotron-H whose config-level ``mamba_ssm_cache_dtype`` (default
float32) is honoured (``NemotronHForCausalLMConfig``); lightning state = model dtype
(``linear_attention_state_dtype``). transformers 5.x: conv states are kept in the activation dtype,
SSM / DeltaNet states as the float32 tensors its scans return (``torch_chunk_gated_delta_rule`` and
the Mamba scans compute in float32 and the cache copies the returned state as-is); the lightning
state is allocated in the activation dtype. ``ssm_dtype`` overrides the SSM dtype everywhere but
lightning attention.
"""

from __future__ import annotations

import msgspec

from hubmem.schema.architecture import Architecture

DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4, "float64": 8}
_SSM_OPTION = {
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "float32": "float32",
    "fp32": "float32",
}


class StateSize(msgspec.Struct, frozen=True):
    conv_elements: int
    ssm_elements: int
    conv_dtype: str
    ssm_dtype: str
    formula: str

    @property
    def bytes(self) -> int:
        return (
            self.conv_elements * DTYPE_BYTES[self.conv_dtype]
            + self.ssm_elements * DTYPE_BYTES[self.ssm_dtype]
        )


def state_dtypes(arch: Architecture, kind: str, engine: str, ssm_option: str) -> tuple[str, str]:
    """(conv dtype, SSM dtype) for one recurrent layer kind."""
    act = arch.dtype if arch.dtype in DTYPE_BYTES else "bfloat16"
    lightning = (
        kind == "linear" and arch.linear_attention is not None and arch.linear_attention.kind == "lightning"
    )
    if lightning:
        return act, act
    if ssm_option != "auto":
        return act, _SSM_OPTION[ssm_option]
    if engine == "transformers":
        return act, "float32"
    if kind in ("mamba", "mamba2") and arch.mamba is not None and arch.mamba.ssm_cache_dtype in DTYPE_BYTES:
        return act, str(arch.mamba.ssm_cache_dtype)
    return act, act


def state_size(arch: Architecture, kind: str, engine: str, ssm_option: str = "auto") -> StateSize | None:
    """Per-layer recurrent state of ``kind`` for one sequence, or None when the dimensions are unknown."""
    conv_dtype, ssm_dtype = state_dtypes(arch, kind, engine, ssm_option)
    drop = 1 if engine == "vllm" else 0  # vLLM keeps conv_kernel-1 columns, transformers conv_kernel
    kcol = "(k-1)" if drop else "k"
    if kind in ("mamba", "mamba2"):
        m = arch.mamba
        if m is None:
            return None
        cols = max(0, m.conv_kernel - drop)
        if kind == "mamba":
            conv = cols * m.intermediate_size
            ssm = m.intermediate_size * m.state_size
            formula = (
                f"conv {kcol}={cols} x intermediate {m.intermediate_size} + ssm intermediate "
                f"{m.intermediate_size} x state {m.state_size}"
            )
        else:
            if m.num_heads is None or m.head_dim is None:
                return None
            conv_dim = m.intermediate_size + 2 * m.n_groups * m.state_size
            conv = cols * conv_dim
            ssm = m.num_heads * m.head_dim * m.state_size
            formula = (
                f"conv {kcol}={cols} x (intermediate {m.intermediate_size} + 2 x {m.n_groups} groups x state "
                f"{m.state_size}) + ssm {m.num_heads} heads x {m.head_dim} x state {m.state_size}"
            )
        return StateSize(conv, ssm, conv_dtype, ssm_dtype, formula)
    if kind == "linear":
        la = arch.linear_attention
        if la is None:
            return None
        ssm = la.num_value_heads * la.value_head_dim * la.key_head_dim
        if la.kind == "lightning":
            return StateSize(
                0,
                ssm,
                conv_dtype,
                ssm_dtype,
                f"lightning state {la.num_value_heads} heads x {la.value_head_dim}^2",
            )
        cols = max(0, la.conv_kernel - drop)
        conv_dim = 2 * la.key_head_dim * la.num_key_heads + la.value_head_dim * la.num_value_heads
        formula = (
            f"conv {kcol}={cols} x (2 x {la.num_key_heads} x {la.key_head_dim} + {la.num_value_heads} x "
            f"{la.value_head_dim}) + state {la.num_value_heads} x {la.value_head_dim} x {la.key_head_dim}"
        )
        return StateSize(cols * conv_dim, ssm, conv_dtype, ssm_dtype, formula)
    if kind == "conv":
        sc = arch.short_conv
        if sc is None:
            return None
        cols = max(0, sc.conv_kernel - drop)
        return StateSize(cols * sc.dim, 0, conv_dtype, ssm_dtype, f"conv {kcol}={cols} x {sc.dim}")
    return None
