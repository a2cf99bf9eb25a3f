"""The encoder a decoder's cross-attention reads: the encoder of an encoder-decoder model (layer counts,
default input length) or Mllama's vision encoder (image tokens)."""

from __future__ import annotations

from hubmem.parse.reader import MAX_LAYERS, Reader
from hubmem.schema.architecture import EncoderConfig

MAX_IMAGE = 1 << 16  # pixels on a side: (image_size // patch_size)^2 tokens stay a count


def read_encoder_decoder(r: Reader, text_type: str, *, t5_like: bool, notes: list[str]) -> EncoderConfig:
    enc_layers, dec_layers = _t5_layers(r, notes) if t5_like else _bart_layers(r)
    enc_len, enc_src = _encoder_length(r, text_type)
    return EncoderConfig(
        kind="encoder_decoder",
        encoder_layers=enc_layers,
        decoder_layers=dec_layers,
        encoder_length=enc_len,
        encoder_length_source=enc_src,
    )


def _t5_layers(r: Reader, notes: list[str]) -> tuple[int | None, int | None]:
    enc_layers = r.get_int("num_layers", maximum=MAX_LAYERS)
    dec_layers = r.get_int("num_decoder_layers", maximum=MAX_LAYERS)
    if dec_layers is None and enc_layers is not None and not r.is_invalid("num_decoder_layers"):
        notes.append("T5Config: num_decoder_layers defaults to num_layers")
        dec_layers = enc_layers
    return enc_layers, dec_layers


def _bart_layers(r: Reader) -> tuple[int | None, int | None]:
    enc_layers = r.get_int("encoder_layers", "num_hidden_layers", maximum=MAX_LAYERS)
    dec_layers = r.get_int("decoder_layers", maximum=MAX_LAYERS)
    return enc_layers, dec_layers if dec_layers is not None or r.is_invalid("decoder_layers") else enc_layers


def _encoder_length(r: Reader, text_type: str) -> tuple[int | None, str | None]:
    """Default encoder input length and where it comes from."""
    if (v := r.get_int("max_source_positions")) is not None:
        return v, "max_source_positions"
    if (v := r.get_int("n_positions", "max_position_embeddings")) is not None:
        return v, "n_positions/max_position_embeddings"
    if text_type == "whisper":
        return 1500, "WhisperConfig default max_source_positions=1500"
    return None, None


def read_vision_encoder(root: Reader) -> EncoderConfig:
    """Mllama: cross-attention layers read the vision encoder's tokens, per image
    max_num_tiles x (patches per tile + 1 class token)."""
    vision = root.sub("vision_config")
    enc_len, enc_src = None, None
    if vision is not None:
        image = vision.get_int("image_size", maximum=MAX_IMAGE)
        patch = vision.get_int("patch_size", maximum=MAX_IMAGE) or 14
        tiles = vision.get_int("max_num_tiles", maximum=MAX_LAYERS) or 4
        if image is not None:
            enc_len = tiles * ((image // patch) ** 2 + 1)
            enc_src = (
                f"max_num_tiles x ((image_size // patch_size)^2 + 1) = {tiles} x ({image // patch}^2 + 1)"
            )
    return EncoderConfig(kind="vision", encoder_length=enc_len, encoder_length_source=enc_src)
