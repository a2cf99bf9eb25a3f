"""Bytes per trainable parameter: weights, gradients, fp32 master copy and optimizer states
(docs/theory.md section 4.1).

Mixed-precision AdamW splits into 16-bit weights (2) + 16-bit gradients (2) + K = 12 bytes of optimizer
state (fp32 master 4, momentum 4, variance 4): 16 B/param, the ZeRO paper's "2Ψ + 2Ψ + 12Ψ"
(arXiv:1910.02054 section 3.1). The HF anatomy (6 + 4 + 8 = 18) and Megatron (2 + 4 + 12 = 18) splits
are selectable with ``accounting``. The states of 8-bit Adam and Adafactor depend on each tensor's size
and shape, so they are computed per tensor from the real tensor list.
"""

from __future__ import annotations

import math

import msgspec

BNB_BLOCKSIZE = 256  # bitsandbytes 8-bit blockwise optimizers (optim/optimizer.py init_state)
BNB_MIN_8BIT_SIZE = 4096  # tensors with fewer elements keep fp32 states (min_8bit_size)


class Precision(msgspec.Struct, frozen=True):
    """Bytes per trainable parameter (weights, gradients, master copy) and per optimizer-state element."""

    name: str
    weights: int
    grads: int
    master: int
    state: int  # bytes per element of an optimizer state tensor (m, v, momentum, factored rows ...)
    label: str


def precision_bytes(precision: str, accounting: str = "zero") -> Precision:
    """The weights/grads/master split for a precision regime (theory 4.1 table)."""
    if precision == "fp32":
        return Precision("fp32", 4, 4, 0, 4, "fp32 weights 4 + fp32 grads 4 (no master copy)")
    if precision == "bf16":
        return Precision(
            "bf16", 2, 2, 0, 2, "pure bf16 weights 2 + bf16 grads 2, bf16 states (no master copy)"
        )
    if precision != "mixed":
        raise ValueError(f"unknown precision {precision!r}")
    if accounting == "hf":
        return Precision(
            "mixed/hf",
            6,
            4,
            0,
            4,
            "HF anatomy: fp32 + 16-bit weight copies 6 + fp32 grads 4 (master = the fp32 copy)",
        )
    if accounting == "megatron":
        return Precision(
            "mixed/megatron", 2, 4, 4, 4, "Megatron: bf16 weights 2 + fp32 main grads 4 + fp32 master 4"
        )
    if accounting != "zero":
        raise ValueError(f"unknown accounting {accounting!r}")
    return Precision("mixed/zero", 2, 2, 4, 4, "ZeRO: 16-bit weights 2 + 16-bit grads 2 + fp32 master 4")


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def state_bytes(optimizer: str, shape: tuple[int, ...], state: int, *, adafactor_beta1: bool = False) -> int:
    """Optimizer-state bytes of one trainable tensor of logical ``shape`` (master copy excluded).

    * adamw: m and v, ``2 * n * state``.
    * adamw-8bit (bitsandbytes): n >= 4096: uint8 m and v (2n) + one fp32 absmax per 256-element block
      for each (``2 * cdiv(n, 256) * 4``); smaller tensors keep fp32 states (``8n``).
    * sgd: momentum buffer ``n * state``; sgd-no-momentum: nothing.
    * adafactor (transformers, beta1=None): >=2-D: row ``prod(shape[:-1])`` + column
      ``prod(shape[:-2]) * shape[-1]`` factors; 1-D: full ``exp_avg_sq``; + full ``exp_avg`` if beta1 is set.
    """
    n = math.prod(shape)
    if optimizer == "adamw":
        return 2 * n * state
    if optimizer == "adamw-8bit":
        if n < BNB_MIN_8BIT_SIZE:
            return 2 * n * 4
        return 2 * n + 2 * cdiv(n, BNB_BLOCKSIZE) * 4
    if optimizer == "sgd":
        return n * state
    if optimizer == "sgd-no-momentum":
        return 0
    if optimizer == "adafactor":
        factored = math.prod(shape[:-1]) + math.prod(shape[:-2]) * shape[-1] if len(shape) >= 2 else n
        return (factored + (n if adafactor_beta1 else 0)) * state
    raise ValueError(f"unknown optimizer {optimizer!r}")


def describe_optimizer(optimizer: str, state: int, *, adafactor_beta1: bool = False) -> str:
    """A one-line formula of what ``state_bytes`` counts."""
    if optimizer == "adamw":
        return f"AdamW m + v: 2 x {state} B per trainable parameter"
    if optimizer == "adamw-8bit":
        return (
            "bitsandbytes 8-bit AdamW: uint8 m + v (2 B) + fp32 absmax per 256-block for each (8/256 B) for "
            f"tensors with >= {BNB_MIN_8BIT_SIZE} elements; smaller tensors keep fp32 m + v (8 B)"
        )
    if optimizer == "sgd":
        return f"SGD momentum buffer: {state} B per trainable parameter"
    if optimizer == "sgd-no-momentum":
        return "plain SGD: no optimizer state"
    extra = " + full exp_avg (beta1 set)" if adafactor_beta1 else ""
    return (
        f"Adafactor: factored second moment, rows prod(shape[:-1]) + columns prod(shape[:-2])*shape[-1] "
        f"x {state} B for >=2-D tensors, full x {state} B for 1-D{extra}"
    )
