"""Shared building blocks of every report section."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

# Upper bounds of what a caller may ask for (CLI, API, service), so that every projected figure stays a
# JSON integer that reads back: tokens (context, sequence length, batched tokens, block size) and counts
# (batch, GPUs, tensor-parallel degree, LoRA rank, micro batch).
MAX_TOKENS = 2**40
MAX_COUNT = 2**20

Basis = Literal["exact", "projected"]
"""*exact*: read from safetensors headers / files. *projected*: a formula, with its assumptions shown."""


class Model(BaseModel):
    """Base for every schema model: forbid unknown fields, so a typo is an error, not silent data."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class MemoryItem(Model):
    """One labelled figure of a breakdown, e.g. ``gradients: 16,060,522,496 B = 2 B x 8.03e9 params``."""

    name: str
    bytes: int
    basis: Basis = "projected"
    formula: str | None = None  # how it was computed, human readable
