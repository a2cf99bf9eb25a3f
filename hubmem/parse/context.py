"""The longest context a model is configured for (docs/theory.md 1.2)."""

from __future__ import annotations

from hubmem.parse.reader import Reader
from hubmem.parse.text_config import TextConfig

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
