"""The longest context a model is configured for (docs/theory.md 1.2), and its rotary position embedding."""

from __future__ import annotations

from hubmem.parse.reader import Reader
from hubmem.parse.text_config import TextConfig
from hubmem.schema.architecture import RopeConfig

_MAX_CONTEXT_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "max_seq_len",
    "seq_length",
    "model_max_length",
    "max_target_positions",
    "max_sequence_length",
    "max_seq_length",
    "seq_len",
)


def read_max_context(tc: TextConfig, notes: list[str]) -> tuple[int | None, str | None]:
    """(max context, the key it came from): the smallest of the context keys the text config holds, else
    the top-level config; FalconConfig's default when neither does."""
    found = _smallest_context(tc.reader, tc.root)
    if found[0] is None and tc.text_type in ("falcon", "refinedweb", "refinedwebmodel"):
        notes.append("FalconConfig default max_position_embeddings=2048 applied")
        return 2048, "FalconConfig default max_position_embeddings"
    return found


def _smallest_context(r: Reader, root: Reader) -> tuple[int | None, str | None]:
    for reader in (r, root) if r is not root else (r,):
        found = [(v, k) for k in _MAX_CONTEXT_KEYS if (v := reader.get_int(k)) is not None]
        if found:
            v, k = min(found)
            return v, k
    return None, None


def context_invalid(tc: TextConfig) -> bool:
    """Whether a context key held an invalid value (then the context is not *missing* a key)."""
    return tc.reader.is_invalid(*_MAX_CONTEXT_KEYS) or tc.root.is_invalid(*_MAX_CONTEXT_KEYS)


def read_rope(r: Reader) -> RopeConfig:
    """``rope_scaling`` (or transformers 5's ``rope_parameters``) and the rotary dimension keys, each value
    through the bounded readers (an invalid one is named in ``missing``, never used)."""
    scaling = r.sub("rope_scaling") if r.get_dict("rope_scaling") else r.sub("rope_parameters")
    s = scaling or Reader({})
    return RopeConfig(
        max_position_embeddings=r.get_int("max_position_embeddings"),
        rope_type=(s.get_str("rope_type", "type") or "default").lower(),
        factor=s.get_float("factor"),
        original_max_position_embeddings=s.get_int("original_max_position_embeddings"),
        partial_rotary_factor=r.get_float("partial_rotary_factor", "rotary_pct"),
        rotary_dim=r.get_int("rotary_dim"),
        local_base_freq=r.get_float("rope_local_base_freq", maximum=1e12),
    )
