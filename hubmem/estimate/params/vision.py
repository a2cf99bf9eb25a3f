"""Parameter count of vision towers and projectors (Qwen3-VL, Llama 4)."""

from __future__ import annotations

from hubmem.estimate.params.blocks import Ctx, linear
from hubmem.schema.architecture import VisionTower


def _dims(ctx: Ctx, *names: str) -> tuple[VisionTower, list[int]] | None:
    """The vision tower's ``names`` dimensions, or None (and a ``missing`` line) when one is absent."""
    vc = ctx.f.vision
    if vc is None:
        return None
    values = [getattr(vc, n) for n in names]
    absent = [n for n, v in zip(names, values, strict=True) if v is None]
    if absent:
        ctx.missing.append(f"vision tower: vision_config lacks {', '.join(absent)}")
        return None
    return vc, values


def qwen3_vl_vision(ctx: Ctx) -> None:
    """Qwen3-VL vision tower + patch merger + deepstack mergers (transformers ``Qwen3VLVisionModel``)."""
    found = _dims(
        ctx,
        "hidden_size",
        "intermediate_size",
        "depth",
        "patch_size",
        "temporal_patch_size",
        "in_channels",
        "out_hidden_size",
        "spatial_merge_size",
        "num_position_embeddings",
    )
    if found is None:
        return
    vc, (h, i, depth, patch, t_patch, chans, out, merge, n_pos) = found
    n = linear(chans * t_patch * patch * patch, h, True) + n_pos * h  # patch_embed (Conv3d) + pos_embed
    block = 2 * 2 * h + linear(h, 3 * h, True) + linear(h, h, True) + linear(h, i, True) + linear(i, h, True)
    n += depth * block
    merged = h * merge * merge
    ctx.add("vision", n)
    # merger: LayerNorm(h) + fc1 (merged -> merged) + fc2 (merged -> out);
    # the deepstack mergers normalise the merged width instead
    ctx.add("projector", 2 * h + linear(merged, merged, True) + linear(merged, out, True))
    deepstack = vc.deepstack_layers
    ctx.add("projector", deepstack * (2 * merged + linear(merged, merged, True) + linear(merged, out, True)))


def llama4_vision(ctx: Ctx) -> None:
    """Llama 4 vision encoder + adapter + projector (transformers ``Llama4VisionModel``)."""
    found = _dims(
        ctx,
        "hidden_size",
        "intermediate_size",
        "depth",
        "patch_size",
        "image_size",
        "vision_output_dim",
        "projector_input_dim",
        "projector_output_dim",
    )
    if found is None:
        return
    vc, (h, i, depth, patch, img, out_dim, proj_in, proj_out) = found
    chans, text_h = vc.in_channels or 3, ctx.hidden
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
