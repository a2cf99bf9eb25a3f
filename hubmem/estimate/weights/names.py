"""Tensor name -> model component.

Name-based rules that hold across the checkpoint layouts of the families hubmem meets (Llama/Mistral,
Qwen2/3 dense + MoE + VL, Mixtral ``block_sparse_moe.experts.N.w1``, DeepSeek ``mlp.experts.N`` /
``shared_experts`` / ``gate``, gpt-oss fused ``mlp.experts.gate_up_proj_blocks``, Llama-4
``feed_forward.experts``, GPT-2 ``h.N`` / ``wte`` / ``wpe``, BERT, T5, Falcon, Gemma, Phi-3 fused
``qkv_proj``, Mamba / Nemotron-H ``mixer``, multimodal towers and projectors).

Order of the rules: multimodal projector, audio tower, vision tower (by path segment, anywhere in
the name) -> multi-token-prediction layers -> per-layer parts (norms, attention, state-space
mixer, routed experts, shared experts, router, dense MLP) -> top-level embeddings, LM head, final
norm -> ``other``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Component names, in report order.
EMBEDDINGS = "embeddings"
LM_HEAD = "lm_head"
ATTENTION = "attention"
SSM = "ssm"  # Mamba / Mamba-2 mixers and gated-DeltaNet (linear attention) blocks
MLP = "mlp"
EXPERTS = "experts"  # routed experts
SHARED_EXPERTS = "shared_experts"
ROUTER = "router"
NORMS = "norms"
MTP = "mtp"  # multi-token-prediction modules (DeepSeek layer num_hidden_layers, Qwen3-Next mtp.*)
VISION = "vision_tower"
AUDIO = "audio_tower"
PROJECTOR = "projector"
BUFFERS = "buffers"  # stored non-parameter buffers (position_ids, causal masks, rotary inv_freq)
OTHER = "other"

COMPONENTS: tuple[str, ...] = (
    EMBEDDINGS,
    ATTENTION,
    SSM,
    MLP,
    SHARED_EXPERTS,
    ROUTER,
    EXPERTS,
    NORMS,
    LM_HEAD,
    MTP,
    VISION,
    AUDIO,
    PROJECTOR,
    BUFFERS,
    OTHER,
)

# Path segments (exact, case-sensitive) that mark a multimodal part anywhere in a name.
_PROJECTOR_SEGMENTS = frozenset(
    {
        "multi_modal_projector",  # LLaVA, Gemma 3, Llama 4, Mistral 3, Mllama
        "mm_projector",  # LLaVA (original), VILA
        "merger",  # Qwen2-VL / Qwen2.5-VL / Qwen3-VL ``visual.merger``
        "deepstack_merger_list",  # Qwen3-VL
        "connector",  # Idefics3 / SmolVLM
        "mlp1",  # InternVL
        "img_projection",  # Phi-3-vision
        "aligner",  # DeepSeek-VL
        "resampler",  # MiniCPM-V
        "audio_projector",
        "audio_projection",
        "embed_vision",  # Gemma 3n
        "embed_audio",  # Gemma 3n
        "image_newline",  # LLaVA-NeXT
        "view_seperator",  # DeepSeek-VL2 (sic)
    }
)
_AUDIO_SEGMENTS = frozenset(
    {
        "audio_tower",
        "audio_encoder",
        "audio_model",
        "apm",
        "speech_encoder",
        "audio",
        "whisper_encoder",
        "audio_embed",
    }
)
_VISION_SEGMENTS = frozenset(
    {
        "visual",  # Qwen2-VL / Qwen2.5-VL / Qwen3-VL (``model.visual``)
        "vision_tower",  # LLaVA, Gemma 3, Pixtral / Mistral 3
        "vision_model",  # Mllama, Llama 4, Idefics3, InternVL
        "vision_encoder",
        "vision",
        "vpm",  # MiniCPM-V
        "image_encoder",
        "vision_embed_tokens",  # Phi-3-vision
        "vit",
        "image_embed",  # Phi-4-multimodal ``embed_tokens_extend.image_embed``
    }
)
_MTP_SEGMENTS = frozenset({"mtp", "mtp_layers", "mtp_block", "mtp_modules"})

# Containers whose next segment is a decoder / encoder layer index.
_LAYER_CONTAINERS = frozenset({"layers", "layer", "h", "blocks", "block", "decoder_layers", "encoder_layers"})

_ATTENTION_SEGMENTS = frozenset(
    {
        "self_attn",
        "attn",
        "attention",
        "self_attention",
        "cross_attn",
        "cross_attention",
        "encoder_attn",
        "SelfAttention",
        "EncDecAttention",
        "mixer_attn",
        "temporal_block",
    }
)
_SSM_SEGMENTS = frozenset({"linear_attn", "mamba", "ssm", "mamba_mixer"})
_MLP_SEGMENTS = frozenset(
    {
        "mlp",
        "feed_forward",
        "ffn",
        "block_sparse_moe",
        "moe",
        "intermediate",  # BERT
        "output",  # BERT (``layer.N.output.dense``)
        "DenseReluDense",  # T5
        "fc1",
        "fc2",
        "ff",
        "feedforward",
        "residual_mlp",  # Arctic
        "shared_mlp",
    }
)
_SHARED_SEGMENTS = frozenset({"shared_experts", "shared_expert", "shared_mlp", "shared_expert_mlp"})
_ROUTER_SEGMENTS = frozenset(
    {"gate", "router", "shared_expert_gate", "moe_statics", "e_score_correction_bias", "wg"}
)
_FUSED_EXPERT_SEGMENTS = frozenset({"input_linear", "output_linear"})  # GraniteMoE ``block_sparse_moe``
_MIXER_ATTENTION = frozenset({"q_proj", "k_proj", "v_proj", "o_proj", "qkv_proj", "Wqkv", "out_proj_attn"})
_MIXER_MLP = frozenset({"up_proj", "down_proj", "gate_proj", "fc1", "fc2"})
_MIXER_MOE = frozenset({"experts", "shared_experts", "shared_expert", "gate", "router"})

_EMBED_SEGMENTS = frozenset(
    {
        "embed_tokens",
        "wte",
        "wpe",
        "word_embeddings",
        "position_embeddings",
        "token_type_embeddings",
        "embeddings",
        "embed_in",
        "tok_embeddings",
        "embedding",
        "embed_positions",
        "shared",  # T5 ``shared.weight``
        "emb",
        "word_embedding",
        "embed",
        "per_layer_embeddings",
        "embed_tokens_per_layer",  # Gemma 3n
    }
)
_LM_HEAD_SEGMENTS = frozenset({"lm_head", "embed_out", "unembedding", "unembed", "output_layer"})
_FINAL_NORM_SEGMENTS = frozenset(
    {"norm", "ln_f", "norm_f", "final_layernorm", "final_layer_norm", "final_norm", "ln_out", "LayerNorm"}
)
_WRAPPERS = frozenset({"norm_attn_norm", "layer", "module", "block", "sublayer"})
_BUFFER_LAST = frozenset({"position_ids", "inv_freq", "masked_bias", "_float_tensor"})

_NORM_RE = re.compile(r"(norm|^ln(_|\d|$)|^ln$|layer_norm|LayerNorm)", re.IGNORECASE)
_LAYER_INDEX_RE = re.compile(r"^\d+$")


def is_norm_segment(seg: str) -> bool:
    return bool(_NORM_RE.search(seg))


@dataclass(frozen=True, slots=True)
class NameInfo:
    """What the name alone says: the component and, inside a layer stack, the layer index."""

    component: str
    layer: int | None  # index inside the (decoder) layer stack, None outside one


def layer_index(name: str) -> tuple[int, list[str]] | None:
    """``(index, rest)`` for the first ``<container>.<digits>`` pair in ``name``; None if none.

    ``rest`` is the path below the layer with T5-style ``layer.<k>`` sub-layer prefixes removed.
    """
    segs = name.split(".")
    for i in range(len(segs) - 1):
        if segs[i] in _LAYER_CONTAINERS and _LAYER_INDEX_RE.match(segs[i + 1]):
            rest = segs[i + 2 :]
            while len(rest) >= 2 and rest[0] in ("layer", "sublayer") and _LAYER_INDEX_RE.match(rest[1]):
                rest = rest[2:]
            return int(segs[i + 1]), rest
    return None


def _in_layer(rest: list[str], name: str) -> str:
    """Component of a tensor below a layer; ``rest`` is the path under the layer index."""
    if not rest:
        return OTHER
    # GPT-2 / GPT-J causal-mask buffers: ``h.N.attn.bias`` [1, 1, n, n], ``attn.masked_bias``.
    if rest[-1] in _BUFFER_LAST:
        return BUFFERS
    first = rest[0]
    if first in _WRAPPERS and len(rest) > 1:  # DBRX norm_attn_norm.{attn,norm_1,norm_2}
        first = rest[1]
        rest = rest[1:]
    if first in _SSM_SEGMENTS:
        return SSM
    if first in _ATTENTION_SEGMENTS:
        return ATTENTION
    if first == "mixer":  # Mamba / Nemotron-H: the mixer is mamba, attention, MLP or MoE
        sub = rest[1] if len(rest) > 1 else ""
        if sub in _MIXER_ATTENTION:
            return ATTENTION
        if sub in _MIXER_MOE or sub == "e_score_correction_bias":
            return _moe_part(rest[1:])
        if sub in _MIXER_MLP:
            return MLP
        return SSM
    if is_norm_segment(first):
        return NORMS
    if first in _MLP_SEGMENTS:
        if len(rest) > 1 and is_norm_segment(rest[1]) and first == "output":  # BERT output.LayerNorm
            return NORMS
        return _moe_part(rest[1:])
    if first in _SHARED_SEGMENTS:
        return SHARED_EXPERTS
    if first == "experts":
        return EXPERTS
    if first in ("router", "gate"):
        return ROUTER
    return OTHER


def _moe_part(rest: list[str]) -> str:
    """Inside an MLP / MoE block: routed experts, shared experts, router or dense MLP."""
    for seg in rest:
        if seg in _SHARED_SEGMENTS:
            return SHARED_EXPERTS
        if seg == "experts":
            return EXPERTS
        if seg in _FUSED_EXPERT_SEGMENTS:
            return EXPERTS
        if seg in _ROUTER_SEGMENTS:
            # ``gate`` is the router only as a module of its own (``mlp.gate.weight``),
            # never ``gate_proj`` / ``gate_up_proj`` (those are different segments anyway).
            return ROUTER
    return MLP


def classify(name: str, *, num_layers: int | None = None, mtp: bool = False) -> NameInfo:
    """Classify one tensor name.

    ``num_layers`` is the decoder's ``num_hidden_layers``; a layer index at or beyond it is a
    multi-token-prediction layer when ``mtp`` is true (DeepSeek-V3 ``model.layers.61``).
    """
    segs = name.split(".")
    seg_set = set(segs)
    if seg_set & _PROJECTOR_SEGMENTS:
        return NameInfo(PROJECTOR, None)
    if seg_set & _AUDIO_SEGMENTS:
        return NameInfo(AUDIO, None)
    if seg_set & _VISION_SEGMENTS:
        return NameInfo(VISION, None)
    if seg_set & _MTP_SEGMENTS:
        return NameInfo(MTP, None)
    li = layer_index(name)
    if li is not None:
        idx, rest = li
        if mtp and num_layers is not None and idx >= num_layers:
            return NameInfo(MTP, idx)
        return NameInfo(_in_layer(rest, name), idx)
    last = segs[-1]
    module = segs[:-1] if last in ("weight", "bias") else segs
    if last in _BUFFER_LAST:
        return NameInfo(BUFFERS, None)
    mod_set = set(module)
    if mod_set & _LM_HEAD_SEGMENTS or name in ("output.weight", "output.bias"):
        return NameInfo(LM_HEAD, None)
    if "cls" in mod_set and "predictions" in mod_set:  # BERT MLM head
        return NameInfo(LM_HEAD, None)
    if mod_set & _EMBED_SEGMENTS:
        return NameInfo(EMBEDDINGS, None)
    if module and (module[-1] in _FINAL_NORM_SEGMENTS or is_norm_segment(module[-1])):
        return NameInfo(NORMS, None)
    return NameInfo(OTHER, None)


_TOKEN_EMBED_SEGMENTS = frozenset(
    {
        "embed_tokens",
        "wte",
        "word_embeddings",
        "embed_in",
        "tok_embeddings",
        "shared",
        "embedding",
        "embeddings",
    }
)
_POSITION_EMBED_SEGMENTS = frozenset(
    {"wpe", "position_embeddings", "token_type_embeddings", "embed_positions", "per_layer_embeddings"}
)


def is_token_embedding(name: str) -> bool:
    """True for the token-embedding table (what ``tie_word_embeddings`` ties), not positions."""
    segs = name.split(".")
    if segs[-1] != "weight" or layer_index(name) is not None:
        return False
    module = segs[:-1]
    mod_set = set(module)
    if mod_set & (_VISION_SEGMENTS | _AUDIO_SEGMENTS | _PROJECTOR_SEGMENTS | _MTP_SEGMENTS):
        return False
    if mod_set & _POSITION_EMBED_SEGMENTS or not module or is_norm_segment(module[-1]):
        return False
    return bool(mod_set & _TOKEN_EMBED_SEGMENTS)


def is_lm_head(name: str) -> bool:
    return classify(name).component == LM_HEAD


def classify_tensor(
    name: str, shape: tuple[int, ...], *, num_layers: int | None = None, mtp: bool = False
) -> NameInfo:
    """:func:`classify` plus the shape-dependent buffer rule: GPT-2's ``attn.bias`` is a 4-D causal mask."""
    info = classify(name, num_layers=num_layers, mtp=mtp)
    if info.component == ATTENTION and name.endswith("attn.bias") and len(shape) == 4:
        return NameInfo(BUFFERS, info.layer)
    return info


_DIGITS_RE = re.compile(r"\d+")
_LAYER_RE = re.compile(r"(?:^|\.)(?:" + "|".join(sorted(_LAYER_CONTAINERS)) + r")\.(\d+)(?:\.|$)")


class Classifier:
    """:func:`classify_tensor` with a cache keyed by the name's digit-free pattern.

    Checkpoints repeat one pattern per layer and expert (DeepSeek-V3: 92k tensors, ~120 patterns);
    only the layer index differs, and it matters only for the multi-token-prediction rule.
    """

    def __init__(self, *, num_layers: int | None = None, mtp: bool = False) -> None:
        self.num_layers = num_layers
        self.mtp = mtp
        self._cache: dict[tuple[str, int], NameInfo] = {}

    def __call__(self, name: str, shape: tuple[int, ...]) -> NameInfo:
        key = (_DIGITS_RE.sub("#", name), len(shape))
        base = self._cache.get(key)
        if base is None:
            base = classify_tensor(name, shape)
            self._cache[key] = base
        if base.layer is None:
            return base
        m = _LAYER_RE.search(name)
        layer = int(m.group(1)) if m else base.layer
        if self.mtp and self.num_layers is not None and layer >= self.num_layers:
            return NameInfo(MTP, layer)
        return NameInfo(base.component, layer)


@dataclass(frozen=True, slots=True)
class Record:
    """One tensor as the weights estimate sees it: where it belongs and what it counts for."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    file: str
    bytes: int
    elements: int
    parameters: int  # logical (0 for quantization aux tensors)
    role: str  # plain | quantized | aux
    component: str
    layer: int | None
