"""What the layer-kind rules read (:class:`LayerFacts`) and what they decide (:class:`LayerPlan`)."""

from __future__ import annotations

import msgspec


class LayerFacts(msgspec.Struct):
    """What the resolver needs to know about the model besides the raw config."""

    model_type: str
    num_layers: int
    num_attention_heads: int | None
    sliding_window: int | None
    attention_chunk_size: int | None
    recurrent_kind: str | None  # "mamba" | "mamba2" | "linear" | None: what a "linear_attention" layer is
    is_mla: bool
    encoder_only: bool
    encoder_decoder: bool

    def plan(self, kinds: list[str], source: str) -> LayerPlan:
        """A plan with these kinds, keeping the config's window and chunk size (a rule may change them)."""
        return LayerPlan(
            kinds=kinds,
            source=source,
            sliding_window=self.sliding_window,
            attention_chunk_size=self.attention_chunk_size,
        )


class LayerPlan(msgspec.Struct):
    kinds: list[str]
    source: str | None  # the rule that decided (None: no layer count, so no layer is described)
    kv_heads: list[int] | None = None
    head_dims: list[int] | None = None
    windows: list[int | None] | None = None
    cross_layers: list[int] = []
    hybrid_mamba_layers: list[int] = []
    sliding_window: int | None = None  # effective model-wide window after family rules (Qwen2 may drop it)
    attention_chunk_size: int | None = None
    notes: list[str] = []
    missing: list[str] = []


def uniform_plan(facts: LayerFacts) -> LayerPlan:
    """Every layer alike: encoder (no cache), MLA, sliding, chunked or full attention."""
    n = facts.num_layers
    if facts.encoder_only:
        return facts.plan(["encoder"] * n, "encoder-only model (no KV cache)")
    if facts.is_mla:
        return facts.plan(["mla"] * n, "MLA (kv_lora_rank)")
    if facts.sliding_window is not None:
        return facts.plan(["sliding"] * n, "uniform: sliding_window on every layer")
    if facts.attention_chunk_size is not None:
        return facts.plan(["chunked"] * n, "uniform: attention_chunk_size on every layer")
    return facts.plan(["full"] * n, "uniform: full attention on every layer")
