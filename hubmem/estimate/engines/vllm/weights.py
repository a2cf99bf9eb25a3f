"""``Model loading took X GiB``: the weights one GPU rank holds, from the checkpoint's exact tensor list.

vLLM measures the allocated-bytes delta around ``load_model`` (``gpu_model_runner.py:load_model``,
``DeviceMemoryProfiler``), so the figure is every parameter and buffer the rank keeps:

* each tensor split by its parallel layer (``shard.py``), quantized experts as their kernel repacks them
  (below);
* pipeline stages (``distributed/utils.py:get_pp_indices``): ``L // pp`` layers each, the remainder given to
  the stages before the last; the embedding on the first stage, the final norm and LM head on the last;
* not loaded: a tied ``lm_head`` (it shares the embedding), stored buffers (``rotary_emb.inv_freq``, GPT-2's
  causal masks) and the multi-token-prediction layers unless MTP speculative decoding is on (the drafter is
  loaded inside the same profiler when it is);
* added: the rotary ``cos_sin_cache`` buffers (``rope.py``).

Quantized formats whose resident size differs from the checkpoint's, as the kernels repack them:

* MXFP4 experts (gpt-oss; ``quantization/mxfp4.py:Mxfp4MoEMethod.create_weights`` and
  ``process_weights_after_loading`` @0.10.1 ... 0.14.1): per layer ``w13`` blocks ``[E, 2 Ip, Hp / 2]`` u8 +
  scales ``[E, 2 Ip, Hp / 32]`` u8 + bias ``[E, 2 Ip]`` bf16 and ``w2`` ``[E, Hp, Ip / 2]`` + ``[E, Hp, Ip /
  32]`` + ``[E, Hp]``, with ``I`` per rank padded by the kernel: Marlin ``Ip = round_up(I / tp, 128)``, ``Hp =
  round_up(H, 256)`` (2880 -> 2944 / 3072); Triton ``Ip = round_up(I / tp, 64)``, ``Hp = H``, biases
  re-created in float32 and the swizzled scales kept beside the registered ones (scales counted twice);
  FlashInfer (SM100) pads both to 256 (read from the source, not checked against a log).
* FP8 block, GPTQ / AWQ (Marlin repack), compressed-tensors: the resident tensors have the checkpoint's
  sizes (the Marlin repack of GPTQ/AWQ is about the same size: an estimate, -1.5 % on a Qwen3-14B-AWQ log).
"""

from __future__ import annotations

from collections import defaultdict

import msgspec

from hubmem.estimate.engines.vllm.rope import RopeSpec
from hubmem.estimate.engines.vllm.settings import Settings
from hubmem.estimate.engines.vllm.shard import (
    Layout,
    Share,
    dense_share,
    expert_share,
    loaded_bytes,
    vocab_share,
)
from hubmem.estimate.table import TensorGroup, tensor_table
from hubmem.estimate.training.optimizers import cdiv
from hubmem.estimate.weights.components import (
    BUFFERS,
    EMBEDDINGS,
    EXPERTS,
    LM_HEAD,
    MTP,
    NORMS,
    Classifier,
)
from hubmem.estimate.weights.names import is_token_embedding
from hubmem.estimate.weights.records import has_mtp
from hubmem.formats.safetensors import Tensor
from hubmem.schema.architecture import Architecture

MXFP4_PARTS = (
    "gate_up_proj_blocks",
    "gate_up_proj_scales",
    "gate_up_proj_bias",
    "down_proj_blocks",
    "down_proj_scales",
    "down_proj_bias",
)
_PAD = {"marlin": (128, 256), "triton": (64, 1), "flashinfer": (256, 256)}  # (I multiple, H multiple)


def round_up(x: int, multiple: int) -> int:
    return cdiv(x, multiple) * multiple


def is_mxfp4(arch: Architecture) -> bool:
    return arch.quant is not None and arch.quant.method == "mxfp4"


def is_mxfp4_expert(t: Tensor) -> bool:
    return ".experts." in t.name and t.name.rsplit(".", 1)[-1] in MXFP4_PARTS


class Repacked(msgspec.Struct, frozen=True):
    bytes: int
    formula: str


def mxfp4_layer(gate_up_blocks: Tensor, layout: Layout, backend: str) -> Repacked:
    """One layer's MXFP4 experts on one rank, from the checkpoint's ``gate_up_proj_blocks``
    ``[E, 2 I, H / 32, 16]``."""
    experts, two_i, h_blocks = gate_up_blocks.shape[0], gate_up_blocks.shape[1], gate_up_blocks.shape[2]
    inter, hidden = two_i // 2, h_blocks * 32
    if layout.ep > 1:
        local, i_rank = layout.local_experts, inter
    else:
        local, i_rank = experts, inter // layout.tp
    i_mult, h_mult = _PAD[backend]
    ip, hp = round_up(i_rank, i_mult), round_up(hidden, h_mult)
    blocks = (2 * ip * hp + hp * ip) // 2
    scales = (2 * ip * hp + hp * ip) // 32
    bias = (2 * ip + hp) * 2
    if backend == "triton":
        scales, bias = 2 * scales, 2 * bias
    total = local * (blocks + scales + bias)
    formula = (
        f"{local} experts x (u8 blocks {blocks:,} + scales {scales:,} + biases {bias:,}) B, "
        f"{backend} padding I {i_rank:,} -> {ip:,}, H {hidden:,} -> {hp:,}"
    )
    return Repacked(total, formula)


class StageWeights(msgspec.Struct):
    """What one rank of one pipeline stage loads."""

    pp_rank: int
    layers: range
    parts: dict[str, int] = msgspec.field(default_factory=lambda: defaultdict(int))
    rules: dict[str, int] = msgspec.field(default_factory=lambda: defaultdict(int))  # bytes per sharding rule
    undetermined: list[str] = []
    notes: list[str] = []

    @property
    def total(self) -> int:
        return sum(self.parts.values())


def pp_layer_ranges(num_layers: int, pp: int) -> list[range]:
    """``get_pp_indices``: ``L // pp`` layers per stage, one more for the ``L % pp`` stages before the
    last."""
    sizes = [num_layers // pp] * pp
    for i in range(2, num_layers % pp + 2):
        sizes[-i] += 1
    out, start = [], 0
    for size in sizes:
        out.append(range(start, start + size))
        start += size
    return out


def layout_of(arch: Architecture, settings: Settings) -> Layout:
    return Layout(
        tp=settings.tp,
        ep=settings.ep,
        num_heads=arch.num_attention_heads or 1,
        num_kv_heads=arch.num_kv_heads or arch.num_attention_heads or 1,
        num_experts=arch.num_experts or 0,
        dtype_bytes=settings.dtype_bytes,
    )


class _Loader:
    """Assigns every tensor to its stage and adds its per-rank bytes there."""

    def __init__(
        self, arch: Architecture, settings: Settings, groups: tuple[TensorGroup, ...], mtp: bool
    ) -> None:
        self.arch, self.settings, self.groups = arch, settings, groups
        self.layout = layout_of(arch, settings)
        self.classify = Classifier(num_layers=arch.num_layers, mtp=mtp)
        ranges = pp_layer_ranges(arch.num_layers or 0, settings.pp)
        self.stages = [StageWeights(i, r) for i, r in enumerate(ranges)]
        self.mxfp4 = is_mxfp4(arch)
        self.skipped: dict[str, int] = defaultdict(int)

    def stage_of(self, component: str, layer: int | None) -> StageWeights:
        if layer is not None and component != MTP:
            for stage in self.stages:
                if layer in stage.layers:
                    return stage
        last = component in (LM_HEAD, MTP) or (component == NORMS and layer is None)
        return self.stages[-1] if last else self.stages[0]

    def skip(self, component: str) -> str | None:
        """Why vLLM does not load a tensor of this component (None: it does)."""
        if component == BUFFERS:
            return "stored buffers"
        if component == MTP and not self.settings.mtp:
            return "multi-token-prediction layers (MTP speculative decoding off)"
        if component == LM_HEAD and self.arch.tie_word_embeddings:
            return "lm_head tied to the embedding"
        return None

    def share(self, t: Tensor, component: str) -> Share | None:
        nbytes = loaded_bytes(t, self.layout)
        vocab = component == LM_HEAD or (component == EMBEDDINGS and is_token_embedding(t.name))
        if vocab and len(t.shape) == 2:
            return vocab_share(t, self.layout, nbytes)
        if component == EXPERTS:
            return expert_share(t, self.layout, nbytes)
        return dense_share(t, self.layout, nbytes)

    def add_group(self, group: TensorGroup) -> None:
        """One name pattern / dtype / shape: the share is decided once (per tensor only under expert
        parallelism, where the expert index decides), the stage per tensor."""
        shares: dict[str, Share | None] = {}
        for t in group.tensors:
            component, layer = self.classify.locate(t.name, t.shape, group.pattern)
            why = self.skip(component)
            if why is not None:
                self.skipped[why] += t.nbytes
                continue
            stage = self.stage_of(component, layer)
            if self.mxfp4 and is_mxfp4_expert(t):
                self.add_mxfp4(stage, t)
                continue
            if (component == EXPERTS and self.layout.ep > 1) or component not in shares:
                shares[component] = self.share(t, component)
            self.add_share(stage, t, component, shares[component])

    def add_share(self, stage: StageWeights, t: Tensor, component: str, share: Share | None) -> None:
        if share is None:
            return
        stage.parts[component] += share.bytes
        stage.rules[share.rule] += share.bytes
        if share.undetermined and len(stage.undetermined) < 3:
            stage.undetermined.append(t.name)

    def add_mxfp4(self, stage: StageWeights, t: Tensor) -> None:
        if not t.name.endswith("gate_up_proj_blocks"):
            return  # the layer is counted once, from its gate_up blocks
        repacked = mxfp4_layer(
            t, self.layout, self.settings.era.mxfp4_backend(self.settings.gpu.compute_capability)
        )
        stage.parts[EXPERTS] += repacked.bytes
        stage.rules["mxfp4-repacked"] += repacked.bytes
        note = f"MXFP4 experts per layer: {repacked.formula}"
        if note not in stage.notes:
            stage.notes.append(note)


def weights_per_stage(
    tensors: list[Tensor], arch: Architecture, settings: Settings, rope: RopeSpec
) -> tuple[list[StageWeights], list[str]]:
    """Per pipeline stage, what each of its tensor-parallel ranks loads; and the notes."""
    table = tensor_table(tensors)
    loader = _Loader(arch, settings, table.groups, has_mtp(table, arch))
    for group in table.groups:
        loader.add_group(group)
    for stage in loader.stages:
        if rope.bytes and stage.layers:
            stage.parts["rope cos_sin_cache"] += rope.bytes
    notes = [f"not loaded: {why} ({n:,} B in the checkpoint)" for why, n in loader.skipped.items()]
    notes += rope.notes
    return loader.stages, notes
