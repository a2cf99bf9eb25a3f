"""How many layers the model has, and how many can hold a cache (docs/theory.md 1.2).

The count comes from the first layer-count key; for an encoder-decoder model the cache lives in the
decoder's layers; without any count, the length of a per-layer description is one.
"""

from __future__ import annotations

import msgspec

from hubmem.parse.encoder import read_encoder_decoder
from hubmem.parse.reader import MAX_LAYERS, Reader
from hubmem.parse.text_config import TextConfig
from hubmem.schema.architecture import EncoderConfig

# Keys whose value describes every layer: their length is the layer count.
_PER_LAYER_KEYS = (
    "layer_types",
    "layers_block_type",
    "block_configs",
    "hybrid_override_pattern",
    "attn_type_list",
)


class LayerCounts(msgspec.Struct, frozen=True):
    num_layers: int | None  # the model's layers (an encoder-decoder model's encoder layers when no other)
    cache_layers: int | None  # the layers that can hold a cache: the decoder layers of encoder-decoder models
    encoder: EncoderConfig | None  # the encoder of an encoder-decoder model


NUM_LAYERS_KEYS = ("num_hidden_layers", "n_layer", "n_layers", "num_layers", "encoder_layers")


def read_num_layers(r: Reader) -> int | None:
    """The layer count; beyond ``MAX_LAYERS`` it is a broken config, not a model (an invalid value)."""
    return r.get_int(*NUM_LAYERS_KEYS, maximum=MAX_LAYERS)


def count_layers(tc: TextConfig, num_layers: int | None, notes: list[str]) -> LayerCounts:
    r = tc.reader
    encoder: EncoderConfig | None = None
    cache_layers = num_layers
    if tc.encoder_decoder:
        encoder = read_encoder_decoder(r, tc.text_type, t5_like=tc.t5_like, notes=notes)
        cache_layers = encoder.decoder_layers
        if num_layers is None:
            num_layers = encoder.encoder_layers
    if cache_layers is None and (described := _described_layers(r, notes)) is not None:
        cache_layers = num_layers = described
    return LayerCounts(num_layers=num_layers, cache_layers=cache_layers, encoder=encoder)


def _described_layers(r: Reader, notes: list[str]) -> int | None:
    """A per-layer description is a fact about the layer count."""
    for key in _PER_LAYER_KEYS:
        value = r.raw(key)
        if isinstance(value, (list, str)) and 0 < len(value) <= MAX_LAYERS:
            notes.append(f"num_layers taken from the length of {key}")
            return len(value)
    return None
