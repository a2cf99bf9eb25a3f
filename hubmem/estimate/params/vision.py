"""Parameter count of vision towers and projectors (Qwen3-VL, Llama 4)."""

from __future__ import annotations

from collections.abc import Mapping

from hubmem.estimate.params.blocks import Ctx, linear


def qwen3_vl_vision(ctx: Ctx) -> None:
    """Qwen3-VL vision tower + patch merger + deepstack mergers (transformers ``Qwen3VLVisionModel``)."""
    vc = ctx.root.get("vision_config")
    if not isinstance(vc, Mapping):
        return
    try:
        h, i, depth = int(vc["hidden_size"]), int(vc["intermediate_size"]), int(vc["depth"])
        patch, t_patch, chans = int(vc["patch_size"]), int(vc["temporal_patch_size"]), int(vc["in_channels"])
        out, merge = int(vc["out_hidden_size"]), int(vc["spatial_merge_size"])
        n_pos = int(vc["num_position_embeddings"])
        deepstack = len(vc.get("deepstack_visual_indexes") or [])
    except (KeyError, TypeError, ValueError) as exc:
        ctx.missing.append(f"vision tower: vision_config lacks {exc}")
        return
    n = linear(chans * t_patch * patch * patch, h, True) + n_pos * h  # patch_embed (Conv3d) + pos_embed
    block = 2 * 2 * h + linear(h, 3 * h, True) + linear(h, h, True) + linear(h, i, True) + linear(i, h, True)
    n += depth * block
    merged = h * merge * merge
    ctx.add("vision", n)
    # merger: LayerNorm(h) + fc1 (merged -> merged) + fc2 (merged -> out);
    # the deepstack mergers normalise the merged width instead
    ctx.add("projector", 2 * h + linear(merged, merged, True) + linear(merged, out, True))
    ctx.add("projector", deepstack * (2 * merged + linear(merged, merged, True) + linear(merged, out, True)))


def llama4_vision(ctx: Ctx) -> None:
    """Llama 4 vision encoder + adapter + projector (transformers ``Llama4VisionModel``)."""
    vc = ctx.root.get("vision_config")
    if not isinstance(vc, Mapping):
        return
    try:
        h, i, depth = int(vc["hidden_size"]), int(vc["intermediate_size"]), int(vc["num_hidden_layers"])
        patch, img, chans = int(vc["patch_size"]), int(vc["image_size"]), int(vc.get("num_channels", 3))
        out_dim = int(vc["vision_output_dim"])
        proj_in, proj_out = int(vc["projector_input_dim"]), int(vc["projector_output_dim"])
        text_h = ctx.hidden
    except (KeyError, TypeError, ValueError) as exc:
        ctx.missing.append(f"vision tower: vision_config lacks {exc}")
        return
    n_patches = (img // patch) ** 2 + 1
    n = linear(chans * patch * patch, h)  # unfold + linear patch embedding, no bias
    n += h + n_patches * h  # class embedding + positional embedding
    n += 2 * (2 * h)  # layernorm_pre, layernorm_post
    block = 4 * linear(h, h, True) + linear(h, i, True) + linear(i, h, True) + 2 * 2 * h
    n += depth * block
    # pixel-shuffle adapter MLP: fc1 (intermediate_size -> projector_input_dim), fc2, no biases
    n += linear(i, proj_in) + linear(proj_out, proj_out)
    ctx.add("vision", n)
    ctx.add("projector", linear(out_dim, text_h))  # multi_modal_projector.linear_1, no bias
