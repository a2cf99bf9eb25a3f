"""The ``<arch>.*`` metadata keys of a GGUF header, read like llama.cpp's ``llama_model_loader::get_key`` and
``get_key_or_arr`` (a scalar, or an array with one value per layer). A wrong-typed value is recorded in
``problems`` and treated as absent, never guessed; so is a count beyond the limits config.json values have
(``hubmem.parse.reader``: a layer count above MAX_LAYERS, any other count above MAX_INT), which would
otherwise build per-layer lists of 10^18 entries."""

from __future__ import annotations

from typing import Any

from hubmem.formats.gguf.header import GGUFArray, GGUFHeader
from hubmem.formats.json_reader import brief
from hubmem.parse.reader import MAX_INT, MAX_LAYERS

LAYER_COUNTS = ("block_count", "nextn_predict_layers", "leading_dense_block_count")


class GGUFKeys:
    """Typed access to a header's metadata; ``key`` names are relative to ``<arch>.`` unless they contain
    ``general.`` / ``tokenizer.``."""

    def __init__(self, header: GGUFHeader) -> None:
        self.header = header
        self.arch = header.architecture or ""
        self.problems: list[str] = []

    def full(self, key: str) -> str:
        return key if key.startswith(("general.", "tokenizer.", "split.")) else f"{self.arch}.{key}"

    def raw(self, key: str) -> Any:
        return self.header.metadata.get(self.full(key))

    def get_int(self, key: str) -> int | None:
        value = self.raw(key)
        if value is None:
            return None
        maximum = MAX_LAYERS if key in LAYER_COUNTS else MAX_INT
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
            self.problems.append(
                f"{self.full(key)}: invalid value {brief(value)} (expected a count <= {maximum:,})"
            )
            return None
        return value

    def get_float(self, key: str) -> float | None:
        value = self.raw(key)
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    def per_layer(self, key: str, n_layer: int) -> list[int] | None:
        """One value per layer: a scalar repeated, or an array of exactly ``n_layer`` values (llama.cpp
        ``get_key_or_arr``); None when absent or malformed."""
        value = self.raw(key)
        if value is None:
            return None
        if isinstance(value, list):
            if len(value) < n_layer or not all(_is_count(v) for v in value[:n_layer]):
                self.problems.append(f"{self.full(key)}: not {n_layer} per-layer counts")
                return None
            return [int(v) for v in value[:n_layer]]
        single = self.get_int(key)
        return None if single is None else [single] * n_layer

    def flags(self, key: str, n_layer: int) -> list[bool] | None:
        """A per-layer bool array (``sliding_window_pattern`` as an array), None when not an array."""
        value = self.raw(key)
        if not isinstance(value, list) or len(value) < n_layer:
            return None
        return [bool(v) for v in value[:n_layer]]

    def count(self, key: str) -> int | None:
        """The length of an array value (``tokenizer.ggml.tokens``: the vocabulary size)."""
        value = self.raw(key)
        if isinstance(value, GGUFArray):
            return value.count
        return len(value) if isinstance(value, list) else None


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INT
