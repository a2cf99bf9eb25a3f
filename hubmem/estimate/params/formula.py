"""The parameter count a model of a given config.json has, derived analytically.

This is hubmem's own, independent count: it reads only ``config.json`` (through the normalised
:class:`~hubmem.schema.architecture.Architecture` plus the family-specific keys of the raw config) and
never looks at safetensors headers, so it can cross-check them (issue #5). The layer structures below
follow the reference implementations of each family (transformers ``modeling_*.py``; DeepSeek's own
``README_WEIGHTS.md`` for the MTP module; DeciLM/vLLM ``nemotron_nas.py``) and are validated against
transformers by ``scripts/validate_transformers.py``.

Counting convention (what ``total`` means):

* every tensor the model's checkpoint holds for the main model, i.e. ``model.state_dict()`` of the
  transformers model: parameters **and persistent buffers** (DeepSeek-V3 / Nemotron-H
  ``e_score_correction_bias``), shared (tied) tensors once;
* logical element counts: a packed (GPTQ, MXFP4, FP8 + scales) checkpoint has the same ``total``,
  its scale / zero-point tensors are not parameters (docs/theory.md 3.2);
* the DeepSeek multi-token-prediction module is **not** in ``total`` (transformers does not build it)
  but in ``mtp``; ``checkpoint_total = total + mtp`` is what a DeepSeek-V3 checkpoint stores.

``active`` = ``total`` minus the routed experts one token does not use (``num_experts - top_k`` per MoE
layer); embeddings and the output head are included. Vendors round differently (DeepSeek quotes active
parameters without the input embedding), so compare with care.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import Field

from hubmem.estimate.params.blocks import Ctx, Missing
from hubmem.estimate.params.decoders import falcon, gpt2, gpt_oss
from hubmem.estimate.params.deepseek import deepseek
from hubmem.estimate.params.encoders import bert, t5
from hubmem.estimate.params.hybrid import mamba1, nemotron_h, nemotron_nas, qwen3_next
from hubmem.estimate.params.llama import LLAMA_STYLE, llama_style
from hubmem.estimate.params.vision import llama4_vision, qwen3_vl_vision
from hubmem.schema.architecture import Architecture
from hubmem.schema.common import Model

COMPONENTS = (
    "embeddings",  # token (+ position / token-type) embeddings
    "lm_head",  # output projection, 0 when tied to the embeddings
    "attention",  # q/k/v/o (fused or not), MLA projections, attention norms inside the block, sinks
    "mlp",  # dense feed-forward blocks
    "experts",  # routed experts (all of them)
    "shared_experts",  # always-on experts of MoE layers
    "router",  # expert routers / gates (+ score-correction biases)
    "norms",  # per-layer and final norms
    "mamba",  # Mamba / Mamba-2 mixers
    "linear_attention",  # gated DeltaNet mixers
    "vision",  # vision tower
    "projector",  # multimodal projector
    "head",  # task heads (pooler, MLM head)
)


class ConfigParams(Model):
    """Config-derived (projected) parameter count of one model."""

    family: str | None = None  # the family formula used (model_type of the text model)
    total: int | None = None  # None when the family is not covered at all
    active: int | None = None  # per token (MoE); = total for dense models
    components: dict[str, int] = Field(default_factory=dict)
    mtp: int = 0  # DeepSeek multi-token-prediction module(s), not in total
    missing: list[str] = Field(default_factory=list)  # parts not counted (total then covers the rest only)
    notes: list[str] = Field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.total is not None and not self.missing

    @property
    def checkpoint_total(self) -> int | None:
        """What a checkpoint that also stores the MTP module(s) holds."""
        return None if self.total is None else self.total + self.mtp


# Dispatch --------------------------------------------------------------------------------------

_TEXT_KEYS = ("text_config", "decoder", "generator", "language_config", "llm_config")

_FAMILIES: dict[str, Callable[[Ctx], None]] = {
    **dict.fromkeys(LLAMA_STYLE, llama_style),
    "deepseek_v2": deepseek,
    "deepseek_v3": deepseek,
    "deepseek_v32": deepseek,
    "kimi_k2": deepseek,
    "gpt_oss": gpt_oss,
    "gpt2": gpt2,
    "bert": bert,
    "falcon": falcon,
    "nemotron_h": nemotron_h,
    "nemotron-nas": nemotron_nas,
    "mamba": mamba1,
    "falcon_mamba": mamba1,
    "qwen3_next": qwen3_next,
    "t5": t5,
    "mt5": t5,
}
# multimodal roots: (text family when the text config has no model_type, vision counter or None)
_MULTIMODAL: dict[str, tuple[str, Callable[[Ctx], None] | None]] = {
    "qwen3_vl": ("qwen3_vl_text", qwen3_vl_vision),
    "llama4": ("llama4_text", llama4_vision),
    "gemma3": ("gemma3_text", None),
    "mistral3": ("mistral", None),
}


def _family(arch: Architecture) -> tuple[str, Callable[[Ctx], None] | None]:
    """The family formula's key (the text model's model_type) and the vision-tower counter, if any."""
    root_type = (arch.model_type or "").lower()
    family = arch.family.text_model_type or root_type
    if root_type in _MULTIMODAL:
        text_family, vision = _MULTIMODAL[root_type]
        return (text_family if family == root_type else family), vision
    return family, None


def expected_parameters(arch: Architecture) -> ConfigParams:
    """Parameters of a model of this config, by component; ``missing`` says what is not covered."""
    if not arch.model_type and not arch.family.text_model_type:
        return ConfigParams(missing=["no model_type in config.json"])
    family, vision = _family(arch)
    root_type = (arch.model_type or "").lower()
    has_vision = arch.text_config_key is not None and arch.family.vision is not None
    ctx = Ctx(arch, family)
    builder = _FAMILIES.get(family)
    if builder is None:
        return ConfigParams(
            family=family or None, missing=[f"no parameter formula for model_type {family!r}"]
        )
    try:
        builder(ctx)
        if has_vision and vision is not None:
            vision(ctx)
        elif has_vision or root_type in _MULTIMODAL:
            why = "no formula for it" if has_vision else "config.json has no vision_config"
            ctx.missing.append(f"vision tower of {root_type or family} not counted ({why}); text model only")
    except Missing as exc:
        return ConfigParams(family=family, missing=[str(exc)])
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        return ConfigParams(
            family=family, missing=[f"{family}: malformed config ({type(exc).__name__}: {exc})"]
        )
    total = sum(ctx.counts.values())
    if total <= 0 or any(v < 0 for v in ctx.counts.values()):
        return ConfigParams(family=family, missing=[f"{family}: config dimensions give no parameters"])
    if (
        total + ctx.mtp >= 2**64
    ):  # sizes at their limits (2^32 each): no checkpoint, and no JSON reads it back
        why = (
            f"{family}: config dimensions give about 2^{total.bit_length() - 1} parameters: not a real model"
        )
        return ConfigParams(family=family, missing=[why])
    return ConfigParams(
        family=family,
        total=total,
        active=total - ctx.inactive,
        components={k: ctx.counts[k] for k in COMPONENTS if k in ctx.counts},
        mtp=ctx.mtp,
        missing=ctx.missing,
        notes=ctx.notes,
    )
