"""Family-specific config facts the config-derived parameter formulas need (``estimate/params``): biases,
which layers are MoE, Nemotron block patterns, Nemotron-NAS block configs, Falcon's layout flags, T5's
position buckets, vision towers. Read here, like every other config key, so the formulas only compute.

Values are read leniently where the formulas always were (a flag is ``bool(value)``; a number must be an
integer within the model limits), and a missing value stays ``None``: each formula applies its family's
documented default or reports the key as missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubmem.parse.reader import MAX_FACTOR, MAX_LAYERS, Reader, positive_int
from hubmem.schema.architecture import FamilyConfig, NasBlock, VisionTower

_NEMOTRON_BLOCKS = {"mamba": "M", "attention": "*", "mlp": "-", "moe": "E"}


def _flag(r: Reader, key: str) -> bool | None:
    v = r.raw(key)
    return None if v is None else bool(v)


def _int(r: Reader, *keys: str) -> int | None:
    """First non-negative integer among ``keys`` (0 included: ``q_lora_rank: 0`` means "none")."""
    return r.get_int(*keys, minimum=0)


def _int_list(r: Reader, key: str) -> list[int] | None:
    """Layer indexes (``mlp_only_layers``, ``moe_layers``)."""
    return r.get_int_list(key, maximum=MAX_LAYERS)


def _block_pattern(r: Reader) -> str | None:
    """Nemotron-H: ``hybrid_override_pattern``, else the block-type list mapped to its letters."""
    pattern = r.get_str("hybrid_override_pattern")
    if pattern and len(pattern) <= MAX_LAYERS:
        return pattern
    types = r.get_list("layers_block_type") or r.get_list("layer_types")
    if types is not None:
        return "".join(_NEMOTRON_BLOCKS.get(str(t), "?") for t in types)
    return None


def _nas_block(block: Any) -> NasBlock:
    attn = block.get("attention") if isinstance(block, Mapping) else None
    ffn = block.get("ffn") if isinstance(block, Mapping) else None
    attn = attn if isinstance(attn, Mapping) else {}
    ffn = ffn if isinstance(ffn, Mapping) else {}
    group, mult, inter = attn.get("n_heads_in_group"), ffn.get("ffn_mult"), ffn.get("intermediate_size")
    return NasBlock(
        attention_no_op=bool(attn.get("no_op")),
        attention_linear=bool(attn.get("replace_with_linear")),
        n_heads_in_group=positive_int(group),
        ffn_no_op=bool(ffn.get("no_op")),
        ffn_linear=bool(ffn.get("replace_with_linear")),
        ffn_mult=_factor(mult),
        ffn_intermediate=positive_int(inter),
    )


def _factor(value: Any) -> float | None:
    """A finite multiplier in (0, MAX_FACTOR] (Nemotron-NAS ``ffn_mult``), else None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= MAX_FACTOR:
        return float(value)  # NaN fails the comparison, infinity the bound
    return None


def _vision(root: Reader) -> VisionTower | None:
    vc = root.sub("vision_config")
    if vc is None:
        return None
    deepstack = vc.get_list("deepstack_visual_indexes")
    return VisionTower(
        hidden_size=vc.get_int("hidden_size"),
        intermediate_size=vc.get_int("intermediate_size"),
        depth=vc.get_int("depth", "num_hidden_layers", maximum=MAX_LAYERS),
        patch_size=vc.get_int("patch_size"),
        temporal_patch_size=vc.get_int("temporal_patch_size"),
        in_channels=vc.get_int("in_channels", "num_channels"),
        out_hidden_size=vc.get_int("out_hidden_size"),
        spatial_merge_size=vc.get_int("spatial_merge_size"),
        num_position_embeddings=vc.get_int("num_position_embeddings"),
        deepstack_layers=len(deepstack) if deepstack is not None else 0,
        image_size=vc.get_int("image_size"),
        vision_output_dim=vc.get_int("vision_output_dim"),
        projector_input_dim=vc.get_int("projector_input_dim"),
        projector_output_dim=vc.get_int("projector_output_dim"),
    )


def read_family(r: Reader, root: Reader, text_type: str) -> FamilyConfig:
    """Every family-specific key the parameter formulas use, from the text config ``r`` (and ``root``)."""
    blocks = r.get_list("block_configs")
    return FamilyConfig(
        text_model_type=text_type or None,
        attention_bias=_flag(r, "attention_bias"),
        mlp_bias=_flag(r, "mlp_bias"),
        qkv_bias=_flag(r, "qkv_bias"),
        use_bias=_flag(r, "use_bias"),
        use_conv_bias=_flag(r, "use_conv_bias"),
        bias=_flag(r, "bias"),
        new_decoder_architecture=_flag(r, "new_decoder_architecture"),
        multi_query=_flag(r, "multi_query"),
        parallel_attn=_flag(r, "parallel_attn"),
        tie_word_embeddings_explicit="tie_word_embeddings" in root.data,
        mlp_only_layers=_int_list(r, "mlp_only_layers") or [],
        decoder_sparse_step=_int(r, "decoder_sparse_step"),
        moe_layer_freq=_int(r, "moe_layer_freq"),
        moe_layers=_int_list(r, "moe_layers"),
        interleave_moe_layer_step=_int(r, "interleave_moe_layer_step"),
        intermediate_size_mlp=_int(r, "intermediate_size_mlp"),
        topk_method=r.get_str("topk_method"),
        moe_latent_size=_int(r, "moe_latent_size"),
        ffn_hidden_size=_int(r, "ffn_hidden_size"),
        num_ln_in_parallel_attn=_int(r, "num_ln_in_parallel_attn"),
        positions=_int(r, "n_positions", "max_position_embeddings"),
        type_vocab_size=_int(r, "type_vocab_size"),
        relative_attention_num_buckets=_int(r, "relative_attention_num_buckets"),
        feed_forward_proj=r.get_str("feed_forward_proj"),
        time_step_rank=positive_int(r.raw("time_step_rank")),
        block_pattern=_block_pattern(r) if text_type == "nemotron_h" else None,
        nas_blocks=[_nas_block(b) for b in blocks] if blocks is not None else None,
        vision=_vision(root),
    )
