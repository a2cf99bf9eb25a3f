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

import msgspec

from hubmem.schema.architecture import ATTENTION_KINDS, Architecture, RopeConfig

_NOT_MULTIPLIED = ("su", "longrope", "llama3")
_YARN = ("yarn", "deepseek_yarn")
_ROWS_TIMES_FACTOR = ("linear", "dynamic")


class RopeBuffer(msgspec.Struct, frozen=True):
    rows: int
    dim: int
    dtype_bytes: int
    formula: str

    @property
    def bytes(self) -> int:
        return self.rows * self.dim * self.dtype_bytes


class RopeSpec(msgspec.Struct):
    buffers: list[RopeBuffer] = []
    derived_max_len: int | None = None
    derived_key: str | None = None
    notes: list[str] = []

    @property
    def bytes(self) -> int:
        return sum(b.bytes for b in self.buffers)


def _rotary_dim(rope: RopeConfig, arch: Architecture) -> int:
    if arch.mla is not None:
        return arch.mla.qk_rope_head_dim
    if rope.rotary_dim is not None:
        return rope.rotary_dim
    head_dim = arch.head_dim or 0
    fraction = rope.partial_rotary_factor
    return int(head_dim * fraction) if fraction is not None else head_dim


def _rows(rope: RopeConfig) -> tuple[int, str] | None:
    max_pos, kind, factor = rope.max_position_embeddings, rope.rope_type, rope.factor or 1.0
    original = rope.original_max_position_embeddings
    if kind in _YARN and original:
        return int(original * factor), f"{kind}: original_max_position_embeddings {original:,} x {factor:g}"
    if max_pos is None:
        return None
    if kind in _ROWS_TIMES_FACTOR:
        return int(max_pos * factor), f"{kind}: max_position_embeddings {max_pos:,} x {factor:g}"
    if kind in ("longrope", "su") and original:
        return max_pos + original, f"{kind}: short {original:,} + long {max_pos:,} rows"
    return max_pos, f"max_position_embeddings {max_pos:,}"


def _has_rope(arch: Architecture, learned_positions: bool) -> bool:
    return not learned_positions and any(kind in ATTENTION_KINDS for kind in arch.layer_kinds)


def rope_spec(arch: Architecture, model_dtype_bytes: int, *, learned_positions: bool) -> RopeSpec:
    """The rope buffers one rank allocates and vLLM's derived max_model_len."""
    rope = arch.rope or RopeConfig()
    spec = RopeSpec()
    spec.derived_max_len, spec.derived_key = derived_max_model_len(arch, rope)
    if not _has_rope(arch, learned_positions):
        return spec
    rows, dim = _rows(rope), _rotary_dim(rope, arch)
    if rows is None or not dim:
        spec.notes.append("rope buffer not counted: max_position_embeddings / rotary dim unknown")
        return spec
    fp32 = (arch.model_type or "") == "gpt_oss"
    dtype_bytes = 4 if fp32 else model_dtype_bytes
    where = "float32 (gpt_oss.py)" if fp32 else f"{dtype_bytes} B (model dtype)"
    spec.buffers.append(RopeBuffer(rows[0], dim, dtype_bytes, f"{rows[1]} x rotary dim {dim} x {where}"))
    if rope.local_base_freq is not None and rope.max_position_embeddings:
        local = rope.max_position_embeddings
        spec.buffers.append(
            RopeBuffer(local, dim, dtype_bytes, f"local rope: {local:,} rows x {dim} x {dtype_bytes} B")
        )
    return spec


def derived_max_model_len(arch: Architecture, rope: RopeConfig) -> tuple[int | None, str | None]:
    """``_get_and_verify_max_len``: the context keys' minimum, scaled by the rope factor where vLLM does."""
    derived, key, kind = arch.max_context, arch.max_context_key, rope.rope_type
    gemma3 = (arch.model_type or "").startswith("gemma3")
    if derived is None or kind in _NOT_MULTIPLIED or gemma3:
        return derived, key
    if kind in _YARN and rope.original_max_position_embeddings:
        derived = rope.original_max_position_embeddings
    factor = rope.factor or 1.0
    if factor != 1.0:
        return int(derived * factor), f"{key} with rope_scaling {kind} factor {factor:g}"
    return derived, key
