"""Tensor name -> model component (the rules; the vocabulary is ``segments.py``).

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

import msgspec

from hubmem.estimate.weights.names import is_norm_segment, layer_index, mask_digits
from hubmem.estimate.weights.segments import (
    ATTENTION_SEGMENTS,
    AUDIO_SEGMENTS,
    BUFFER_LAST,
    EMBED_SEGMENTS,
    FINAL_NORM_SEGMENTS,
    FUSED_EXPERT_SEGMENTS,
    LAYER_CONTAINERS,
    LAYER_INDEX_RE,
    LM_HEAD_SEGMENTS,
    MIXER_ATTENTION,
    MIXER_MLP,
    MIXER_MOE,
    MLP_SEGMENTS,
    MTP_SEGMENTS,
    PROJECTOR_SEGMENTS,
    ROUTER_SEGMENTS,
    SHARED_SEGMENTS,
    SSM_SEGMENTS,
    VISION_SEGMENTS,
    WRAPPERS,
)

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


class NameInfo(msgspec.Struct, frozen=True, gc=False):
    """What the name alone says: the component and, inside a layer stack, the layer index."""

    component: str
    layer: int | None  # index inside the (decoder) layer stack, None outside one


def _mixer(rest: list[str]) -> str:
    """Mamba / Nemotron-H ``mixer``: the mixer is mamba, attention, MLP or MoE."""
    sub = rest[1] if len(rest) > 1 else ""
    if sub in MIXER_ATTENTION:
        return ATTENTION
    if sub in MIXER_MOE or sub == "e_score_correction_bias":
        return _moe_part(rest[1:])
    return MLP if sub in MIXER_MLP else SSM


# the first segment below a layer that alone decides the component
_LAYER_FIRST_SEGMENT = {
    **dict.fromkeys(SSM_SEGMENTS, SSM),
    **dict.fromkeys(ATTENTION_SEGMENTS, ATTENTION),
}
_LAYER_LAST_RESORT = {**dict.fromkeys(SHARED_SEGMENTS, SHARED_EXPERTS), "experts": EXPERTS, "router": ROUTER}


def _in_layer(rest: list[str], name: str) -> str:
    """Component of a tensor below a layer; ``rest`` is the path under the layer index."""
    if not rest:
        return OTHER
    # GPT-2 / GPT-J causal-mask buffers: ``h.N.attn.bias`` [1, 1, n, n], ``attn.masked_bias``.
    if rest[-1] in BUFFER_LAST:
        return BUFFERS
    if rest[0] in WRAPPERS and len(rest) > 1:  # DBRX norm_attn_norm.{attn,norm_1,norm_2}
        rest = rest[1:]
    first = rest[0]
    if first in _LAYER_FIRST_SEGMENT:
        return _LAYER_FIRST_SEGMENT[first]
    if first == "mixer":
        return _mixer(rest)
    if is_norm_segment(first):
        return NORMS
    if first in MLP_SEGMENTS:
        if len(rest) > 1 and is_norm_segment(rest[1]) and first == "output":  # BERT output.LayerNorm
            return NORMS
        return _moe_part(rest[1:])
    if first == "gate":
        return ROUTER
    return _LAYER_LAST_RESORT.get(first, OTHER)


def _moe_part(rest: list[str]) -> str:
    """Inside an MLP / MoE block: routed experts, shared experts, router or dense MLP."""
    for seg in rest:
        if seg in SHARED_SEGMENTS:
            return SHARED_EXPERTS
        if seg == "experts":
            return EXPERTS
        if seg in FUSED_EXPERT_SEGMENTS:
            return EXPERTS
        if seg in ROUTER_SEGMENTS:
            # ``gate`` is the router only as a module of its own (``mlp.gate.weight``),
            # never ``gate_proj`` / ``gate_up_proj`` (those are different segments anyway).
            return ROUTER
    return MLP


def _outside_layers(name: str, segs: list[str]) -> str:
    """Component of a tensor outside the layer stack: buffers, LM head, embeddings, final norm."""
    last = segs[-1]
    module = segs[:-1] if last in ("weight", "bias") else segs
    if last in BUFFER_LAST:
        return BUFFERS
    mod_set = set(module)
    if mod_set & LM_HEAD_SEGMENTS or name in ("output.weight", "output.bias"):
        return LM_HEAD
    if "cls" in mod_set and "predictions" in mod_set:  # BERT MLM head
        return LM_HEAD
    if mod_set & EMBED_SEGMENTS:
        return EMBEDDINGS
    if module and (module[-1] in FINAL_NORM_SEGMENTS or is_norm_segment(module[-1])):
        return NORMS
    return OTHER


# path segments that decide the component wherever they appear in a name, in this order
_ANYWHERE = (
    (PROJECTOR_SEGMENTS, PROJECTOR),
    (AUDIO_SEGMENTS, AUDIO),
    (VISION_SEGMENTS, VISION),
    (MTP_SEGMENTS, MTP),
)


def classify(name: str, *, num_layers: int | None = None, mtp: bool = False) -> NameInfo:
    """Classify one tensor name.

    ``num_layers`` is the decoder's ``num_hidden_layers``; a layer index at or beyond it is a
    multi-token-prediction layer when ``mtp`` is true (DeepSeek-V3 ``model.layers.61``).
    """
    segs = name.split(".")
    seg_set = set(segs)
    for segments, component in _ANYWHERE:
        if seg_set & segments:
            return NameInfo(component, None)
    li = layer_index(name)
    if li is None:
        return NameInfo(_outside_layers(name, segs), None)
    idx, rest = li
    if mtp and num_layers is not None and idx >= num_layers:
        return NameInfo(MTP, idx)
    return NameInfo(_in_layer(rest, name), idx)


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


def _layer_segment(name: str) -> int | None:
    """Index in ``name.split(".")`` of the first ``<container>.<digits>`` layer number, as layer_index."""
    segs = name.split(".")
    for i in range(len(segs) - 1):
        if segs[i] in LAYER_CONTAINERS and LAYER_INDEX_RE.match(segs[i + 1]):
            return i + 1
    return None


class Classifier:
    """:func:`classify_tensor` with a cache keyed by the name with its digits masked.

    Checkpoints repeat one pattern per layer and expert (DeepSeek-V3: 92k tensors, a few hundred patterns):
    the component is decided once per pattern, and only the layer number is read from each name (it
    matters for the multi-token-prediction rule and the per-layer MoE figures).
    """

    def __init__(self, *, num_layers: int | None = None, mtp: bool = False) -> None:
        self.num_layers = num_layers
        self.mtp = mtp
        self._cache: dict[tuple[str, bool], tuple[NameInfo, int | None]] = {}

    def __call__(self, name: str, shape: tuple[int, ...], masked: str | None = None) -> NameInfo:
        """``masked``: ``name`` with its digits masked (``mask_digits``), when the caller has it already."""
        return NameInfo(*self.locate(name, shape, masked or mask_digits(name)))

    def pattern(self, name: str, shape: tuple[int, ...], masked: str) -> tuple[NameInfo, int | None]:
        """(component of the pattern, index of the layer number in ``name.split(".")``) for every tensor
        named like ``name`` (``masked``: its digits masked) with as many dims as ``shape``."""
        key = (masked, len(shape) == 4)  # 4-D: the causal-mask buffer rule
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = (classify_tensor(name, shape), _layer_segment(name))
        return cached

    def component(self, base: NameInfo, layer: int | None) -> str:
        """A layer at or beyond num_hidden_layers is a multi-token-prediction layer (in a model with MTP)."""
        if layer is not None and self.mtp and self.num_layers is not None and layer >= self.num_layers:
            return MTP
        return base.component

    def locate(self, name: str, shape: tuple[int, ...], masked: str) -> tuple[str, int | None]:
        """(component, layer index) of one tensor, ``masked`` being its name with the digits masked."""
        base, segment = self.pattern(name, shape, masked)
        if segment is None:
            return base.component, base.layer
        text = name.split(".", segment + 1)[segment]
        if not LAYER_INDEX_RE.match(text):  # same pattern, but a 10+ digit number: no layer (never int() it)
            return base.component, base.layer
        layer = int(text)
        return self.component(base, layer), layer


class Record(msgspec.Struct, frozen=True, gc=False):
    """Tensors the weights estimate treats alike: one name pattern (digits masked) in one layer, one dtype,
    shape, file, component and quantization role. Checkpoints repeat a few hundred patterns over up to 100k
    tensors (every expert of every layer), so the estimate works on ~1,000 records instead of every tensor.
    ``bytes``, ``elements`` and ``parameters`` are totals over the ``count`` tensors.

    A msgspec Struct, built in C (~2,700 per DeepSeek-R1 report; a frozen dataclass sets each field through
    ``object.__setattr__``), not tracked by the cyclic collector (strings, integers, a tuple of integers)."""

    name: str  # the first tensor's name
    dtype: str
    shape: tuple[int, ...]
    file: str
    bytes: int
    elements: int
    parameters: int  # logical (0 for quantization aux tensors)
    role: str  # plain | quantized | aux
    component: str
    layer: int | None
    count: int = 1
    experts: int | None = None  # routed experts: the largest expert index + 1 among them (or the stacked dim)
