"""Which object of config.json describes the text decoder, and what kind of model it is (docs/theory.md
1.1)."""

from __future__ import annotations

from typing import Any

import msgspec

from hubmem.parse.model_types import ENCODER_DECODER_TYPES, ENCODER_ONLY_TYPES, T5_LIKE, TEXT_CONFIG_KEYS
from hubmem.parse.reader import Reader


class TextConfig(msgspec.Struct, frozen=True):
    root: Reader  # the whole config.json
    reader: Reader  # the text model's config object (``root`` itself when the text model is at the top)
    key: str | None  # where the text config was found ("text_config", ...), None = root
    model_type: str | None  # the top-level model_type (else the text config's)
    text_type: str  # the text config's model_type, lower case ("" when none)
    architectures: list[str]
    encoder_decoder: bool
    encoder_only: bool
    t5_like: bool


def locate_text_config(config: dict[str, Any], problems: list[str]) -> TextConfig:
    """The text model's config object inside ``config``, and its model type."""
    root = Reader(config, problems=problems)
    tc, tc_key = _find_text_config(config, problems)
    r = Reader(tc, where=f"{tc_key}." if tc_key else "", problems=problems) if tc_key else root
    model_type = root.get_str("model_type") or r.get_str("model_type")
    text_type = (r.get_str("model_type") or model_type or "").lower()
    architectures = [a for a in (root.get_list("architectures") or []) if isinstance(a, str)]
    encoder_decoder = text_type in ENCODER_DECODER_TYPES or root.get_bool("is_encoder_decoder") is True
    return TextConfig(
        root=root,
        reader=r,
        key=tc_key,
        model_type=model_type,
        text_type=text_type,
        architectures=architectures,
        encoder_decoder=encoder_decoder,
        encoder_only=text_type in ENCODER_ONLY_TYPES and not encoder_decoder,
        t5_like=text_type in T5_LIKE,
    )


def _find_text_config(config: dict[str, Any], problems: list[str]) -> tuple[dict[str, Any], str | None]:
    for key in TEXT_CONFIG_KEYS:
        value = config.get(key)
        if value is None:
            continue
        if isinstance(value, dict):
            return value, key
        problems.append(f"{key}: expected an object, got {type(value).__name__}; ignored")
    thinker = config.get("thinker_config")
    if isinstance(thinker, dict) and isinstance(thinker.get("text_config"), dict):
        return thinker["text_config"], "thinker_config.text_config"
    return config, None
