"""Shared pieces of the config-derived parameter count (:mod:`hubmem.estimate.params.formula`):
the per-model counting context and the layer building blocks every family formula uses.
"""

from __future__ import annotations

import msgspec

from hubmem.schema.architecture import Architecture, FamilyConfig


class Missing(Exception):
    """A key a formula needs is absent: the family is then reported as missing, never guessed."""


class Ctx(msgspec.Struct):
    """The running count of one model: what the formulas read (``arch`` and its parse-only ``family``
    facts) and what they add up."""

    arch: Architecture
    family: str
    counts: dict[str, int] = {}
    inactive: int = 0  # routed-expert parameters a token does not use
    mtp: int = 0
    missing: list[str] = []
    notes: list[str] = []

    @property
    def f(self) -> FamilyConfig:
        return self.arch.family

    def add(self, component: str, n: int) -> None:
        self.counts[component] = self.counts.get(component, 0) + n

    def need(
        self, value: int | None, what: str, *, default: int | None = None, positive: bool = False
    ) -> int:
        """``value`` when the config gave one (>= 1 with ``positive``, else >= 0), else ``default``; a
        dimension that is absent and has no default makes the whole family formula ``Missing``."""
        if value is not None and value >= (1 if positive else 0):
            return value
        if default is not None:
            return default
        raise Missing(f"{self.family}: config has no {what}")

    # common dimensions -------------------------------------------------------------------------
    @property
    def hidden(self) -> int:
        return self.need(self.arch.hidden_size, "hidden_size / n_embd / d_model", positive=True)

    @property
    def layers(self) -> int:
        return self.need(self.arch.num_layers, "num_hidden_layers / n_layer / num_layers", positive=True)

    @property
    def heads(self) -> int:
        return self.need(
            self.arch.num_attention_heads, "num_attention_heads / n_head / num_heads", positive=True
        )

    @property
    def kv_heads(self) -> int:
        return self.need(self.arch.num_kv_heads, "num_key_value_heads / num_kv_heads", default=self.heads)

    @property
    def head_dim(self) -> int:
        hd = self.arch.head_dim
        return hd if hd is not None else self.hidden // self.heads

    @property
    def vocab(self) -> int:
        return self.need(self.arch.vocab_size, "vocab_size", positive=True)

    @property
    def intermediate(self) -> int:
        return self.need(self.arch.intermediate_size, "intermediate_size / n_inner / ffn_dim / d_ff")

    def tied(self, default: bool) -> bool:
        tie = self.arch.tie_word_embeddings
        return default if tie is None else tie


# Building blocks -------------------------------------------------------------------------------


def linear(n_in: int, n_out: int, bias: bool = False) -> int:
    return n_in * n_out + (n_out if bias else 0)


def attention(
    h: int, nh: int, nkv: int, hd: int, *, qkv_bias: bool = False, o_bias: bool = False, qk_norm: int = 0
) -> int:
    """q/k/v/o projections (fused qkv has the same count) and per-head q/k norms of ``qk_norm`` each."""
    return (
        linear(h, nh * hd, qkv_bias)
        + 2 * linear(h, nkv * hd, qkv_bias)
        + linear(nh * hd, h, o_bias)
        + 2 * qk_norm
    )


def gated_mlp(h: int, i: int, bias: bool = False) -> int:
    """gate, up, down (SwiGLU/GeGLU); Phi-3's fused gate_up_proj has the same count."""
    return 2 * linear(h, i, bias) + linear(i, h, bias)


def embeddings(ctx: Ctx, *, tie_default: bool) -> None:
    h, v = ctx.hidden, ctx.vocab
    ctx.add("embeddings", v * h)
    if ctx.tied(tie_default):
        ctx.add("lm_head", 0)
    else:
        ctx.add("lm_head", v * h)


def routed(ctx: Ctx, *, experts: int, top_k: int, per_expert: int) -> None:
    ctx.add("experts", experts * per_expert)
    ctx.inactive += max(experts - top_k, 0) * per_expert
