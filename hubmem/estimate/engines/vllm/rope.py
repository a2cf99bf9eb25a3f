"""Rotary-embedding buffers vLLM allocates while loading, and the ``max_model_len`` it derives from config.

* ``cos_sin_cache`` (``model_executor/layers/rotary_embedding/base.py:RotaryEmbedding``): a buffer ``[rows,
  rotary_dim]`` in the model dtype, one per distinct rope (``get_rope`` caches instances). ``rotary_dim =
  head_dim x partial_rotary_factor`` (MLA: ``qk_rope_head_dim``). Rows: ``max_position_embeddings`` (default,
  llama3, mrope); ``x factor`` for linear and dynamic scaling; YaRN and DeepSeek-YaRN
  ``original_max_position_embeddings x factor`` (``yarn_scaling_rope.py``); LongRoPE keeps a short and a long
  cache (``original + max`` rows, ``phi3_long_rope_scaled_rope.py``). gpt-oss builds it in float32
  (``models/gpt_oss.py``); Gemma 3 has a second, local rope (``rope_local_base_freq``).
* Derived maximum (``config/model.py:_get_and_verify_max_len`` @0.14.1): the smallest context key
  (``Architecture.max_context``), for YaRN first reset to ``original_max_position_embeddings``, then
  multiplied by the rope ``factor`` except for ``su`` / ``longrope`` / ``llama3`` (and Gemma 3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hubmem.schema.architecture import ATTENTION_KINDS, Architecture

_NOT_MULTIPLIED = ("su", "longrope", "llama3")
_YARN = ("yarn", "deepseek_yarn")
_ROWS_TIMES_FACTOR = ("linear", "dynamic")


@dataclass(frozen=True)
class RopeBuffer:
    rows: int
    dim: int
    dtype_bytes: int
    formula: str

    @property
    def bytes(self) -> int:
        return self.rows * self.dim * self.dtype_bytes


@dataclass
class RopeSpec:
    buffers: list[RopeBuffer] = field(default_factory=list)
    derived_max_len: int | None = None
    derived_key: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(b.bytes for b in self.buffers)


class _Keys:
    """The text config's keys as vLLM's ``hf_text_config`` sees them (where ``Architecture.text_config_key``
    says the text model is); numbers only, anything else reads as absent."""

    def __init__(self, config: dict[str, Any], arch: Architecture) -> None:
        data: Any = config
        for part in (arch.text_config_key or "").split("."):
            if part and isinstance(data, dict):
                data = data.get(part)
        self.data: dict[str, Any] = data if isinstance(data, dict) else config

    def number(self, key: str) -> float | None:
        value = self.data.get(key)
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    def get_int(self, key: str) -> int | None:
        value = self.number(key)
        return int(value) if value is not None and value > 0 and value.is_integer() else None

    def get_float(self, *keys: str) -> float | None:
        return next((v for k in keys if (v := self.number(k)) is not None), None)


def _scaling(r: _Keys) -> dict[str, Any]:
    raw = r.data.get("rope_scaling") or r.data.get("rope_parameters")
    return raw if isinstance(raw, dict) else {}


def _rope_type(scaling: dict[str, Any]) -> str:
    kind = scaling.get("rope_type") or scaling.get("type") or "default"
    return str(kind).lower()


def _factor(scaling: dict[str, Any]) -> float:
    value = scaling.get("factor")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 1.0


def _rotary_dim(r: _Keys, arch: Architecture) -> int:
    if arch.mla is not None:
        return arch.mla.qk_rope_head_dim
    head_dim = arch.head_dim or 0
    if (fixed := r.get_int("rotary_dim")) is not None:
        return fixed
    fraction = r.get_float("partial_rotary_factor", "rotary_pct")
    return int(head_dim * fraction) if fraction is not None else head_dim


def _rows(r: _Keys, scaling: dict[str, Any]) -> tuple[int, str] | None:
    max_pos = r.get_int("max_position_embeddings")
    kind, factor = _rope_type(scaling), _factor(scaling)
    original = scaling.get("original_max_position_embeddings")
    if kind in _YARN and isinstance(original, int):
        return int(original * factor), f"{kind}: original_max_position_embeddings {original:,} x {factor:g}"
    if max_pos is None:
        return None
    if kind in _ROWS_TIMES_FACTOR:
        return int(max_pos * factor), f"{kind}: max_position_embeddings {max_pos:,} x {factor:g}"
    if kind in ("longrope", "su") and isinstance(original, int):
        return max_pos + original, f"{kind}: short {original:,} + long {max_pos:,} rows"
    return max_pos, f"max_position_embeddings {max_pos:,}"


def _has_rope(arch: Architecture, learned_positions: bool) -> bool:
    return not learned_positions and any(kind in ATTENTION_KINDS for kind in arch.layer_kinds)


def rope_spec(
    config: dict[str, Any] | None, arch: Architecture, model_dtype_bytes: int, *, learned_positions: bool
) -> RopeSpec:
    """The rope buffers one rank allocates and vLLM's derived max_model_len."""
    spec = RopeSpec()
    if not isinstance(config, dict):
        spec.derived_max_len, spec.derived_key = arch.max_context, arch.max_context_key
        return spec
    r = _Keys(config, arch)
    scaling = _scaling(r)
    spec.derived_max_len, spec.derived_key = derived_max_model_len(arch, scaling)
    if not _has_rope(arch, learned_positions):
        return spec
    rows = _rows(r, scaling)
    dim = _rotary_dim(r, arch)
    if rows is None or not dim:
        spec.notes.append("rope buffer not counted: max_position_embeddings / rotary dim unknown")
        return spec
    fp32 = (arch.model_type or "") == "gpt_oss"
    dtype_bytes = 4 if fp32 else model_dtype_bytes
    where = "float32 (gpt_oss.py)" if fp32 else f"{dtype_bytes} B (model dtype)"
    spec.buffers.append(RopeBuffer(rows[0], dim, dtype_bytes, f"{rows[1]} x rotary dim {dim} x {where}"))
    if r.get_float("rope_local_base_freq") is not None and r.get_int("max_position_embeddings"):
        local_rows = r.get_int("max_position_embeddings") or 0
        spec.buffers.append(
            RopeBuffer(
                local_rows, dim, dtype_bytes, f"local rope: {local_rows:,} rows x {dim} x {dtype_bytes} B"
            )
        )
    return spec


def derived_max_model_len(arch: Architecture, scaling: dict[str, Any]) -> tuple[int | None, str | None]:
    """``_get_and_verify_max_len``: the context keys' minimum, scaled by the rope factor where vLLM does."""
    derived, key = arch.max_context, arch.max_context_key
    kind = _rope_type(scaling)
    gemma3 = (arch.model_type or "").startswith("gemma3")
    if derived is None or not scaling or kind in _NOT_MULTIPLIED or gemma3:
        return derived, key
    original = scaling.get("original_max_position_embeddings")
    if kind in _YARN and isinstance(original, int):
        derived = original
    factor = _factor(scaling)
    if factor != 1.0:
        return int(derived * factor), f"{key} with rope_scaling {kind} factor {factor:g}"
    return derived, key
