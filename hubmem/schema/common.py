"""Shared building blocks of every report section."""

import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

# Upper bounds of what a caller may ask for (CLI, API, service), so that every projected figure stays a
# JSON integer that reads back: tokens (context, sequence length, batched tokens, block size) and counts
# (batch, GPUs, tensor-parallel degree, LoRA rank, micro batch).
MAX_TOKENS = 2**40
MAX_COUNT = 2**20

# dtype names as torch, transformers and vLLM users type them, for fields that spell dtypes otherwise
SHORT_DTYPES = {"bfloat16": "bf16", "float32": "fp32", "float16": "fp16", "half": "fp16"}
LLAMA_CPP_DTYPES = {"bfloat16": "bf16", "float32": "f32", "fp32": "f32", "float16": "f16", "fp16": "f16"}
LLAMA_CPP_DTYPES["half"] = "f16"


def renamed(table: dict[str, str]) -> Callable[[Any], Any]:
    """A before-validator reading the other spellings in ``table`` (any case) as the field's own."""

    def normalize(value: Any) -> Any:
        return table.get(value.lower(), value) if isinstance(value, str) else value

    return normalize


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


def size_bytes(value: Any) -> Any:
    """A before-validator for byte counts that also reads sizes with their unit: ``19.28GiB``, ``20GB``
    (KB/MB/GB/TB = 10^3.., KiB/MiB/GiB/TiB = 2^10..); anything else goes on to the int check."""
    m = _SIZE.match(value) if isinstance(value, str) else None
    return value if m is None else int(float(m.group(1)) * _UNITS[m.group(2).lower()])


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
