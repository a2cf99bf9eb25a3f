"""LoRA / QLoRA: which real tensors get an adapter, and the NF4 bytes of a QLoRA base (docs/theory.md 4.2,
3.2).

Adapters follow PEFT (``peft/tuners/lora/layer.py``): ``lora_A = Linear(in, r)``, ``lora_B = Linear(r, out)``
so an adapted ``Linear(in, out)`` (weight shape ``[out, in]``) trains ``r * (in + out)`` parameters
(+ ``out`` with ``lora_bias``). Target names match like PEFT's ``target_modules`` list: a module whose
name equals the target or ends with ``"." + target``; ``re:<pattern>`` is a full-match regex;
``all-linear`` selects every 2-D linear weight except the embeddings and the output head.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import msgspec

from hubmem.estimate.training.logical import LogicalTensor
from hubmem.estimate.training.optimizers import cdiv
from hubmem.estimate.weights.names import is_embedding, is_head, is_routed_expert, module_name

NF4_BLOCKSIZE = 64  # bitsandbytes quantize_4bit default blocksize
NESTED_BLOCKSIZE = 256  # double quantization of the absmax values
QUANT_STATE_CONSTANTS = 16 * 4 + 256 * 4 + 4  # NF4 code (16 fp32) + nested code (256 fp32) + offset (fp32)


def is_linear_weight(t: LogicalTensor) -> bool:
    """A 2-D weight of a Linear layer (embeddings, the output head and non-``weight`` tensors excluded)."""
    if t.buffer or t.shape is None or len(t.shape) != 2:
        return False
    if not t.name.endswith(".weight"):
        return False
    return not (is_embedding(t.name) or is_head(t.name))


def target_matches(module: str, target: str) -> bool:
    if target.startswith("re:"):
        return re.fullmatch(target[3:], module) is not None
    return module == target or module.endswith("." + target)


class LoRAMatch(msgspec.Struct):
    rank: int
    targets: list[str]
    adapted: int = 0  # Linear modules that get an adapter
    matched_leaves: list[str] = []
    unmatched_targets: list[str] = []
    skipped_non_linear: list[str] = []  # matched a name but not a 2-D Linear
    skipped_experts: int = 0  # routed-expert weights a target matched but that got no adapter
    trainable_parameters: int = 0
    adapter_shapes: dict[tuple[int, ...], int] = {}  # adapter shape -> how many


def is_router(t: LogicalTensor, num_experts: int | None) -> bool:
    """An MoE router weight ``[num_experts, hidden]`` (``mlp.gate`` / ``router``)."""
    if not num_experts or t.shape is None or len(t.shape) != 2 or t.shape[0] != num_experts:
        return False
    leaf = module_name(t.name).rsplit(".", 1)[-1]
    return leaf in ("gate", "router") or "router" in t.name


class _Matcher(msgspec.Struct):
    """PEFT's target matching over one checkpoint's (grouped) logical tensors."""

    result: LoRAMatch
    named: list[str]  # targets other than all-linear
    all_linear: str | None  # the all-linear spelling used, if any
    bias: bool
    experts: bool
    num_experts: int | None
    hit: set[str] = msgspec.field(default_factory=set)
    leaves: dict[str, None] = {}

    def add(self, t: LogicalTensor, name: str, n: int) -> None:
        """``n`` tensors like ``t`` named like ``name`` (a group's member, or all of them)."""
        r, mod, linear = self.result, module_name(name), is_linear_weight(t)
        chosen = [x for x in self.named if target_matches(mod, x)]
        if not self.experts and is_routed_expert(name):
            if chosen or (self.all_linear and linear):
                r.skipped_experts += n
            return
        if chosen and not linear:
            if name.endswith(".weight") or t.shape is None or len(t.shape) != 1:
                r.skipped_non_linear.extend([name] * n if n == 1 else t.members)
            return
        in_all = self.all_linear is not None and linear and not is_router(t, self.num_experts)
        if not (chosen or in_all):
            return
        self.hit.update(chosen)
        if in_all and self.all_linear is not None:
            self.hit.add(self.all_linear)
        assert t.shape is not None
        out_f, in_f = t.shape
        r.adapted += n
        self.leaves[mod.rsplit(".", 1)[-1]] = None
        r.trainable_parameters += n * (self.rank * (in_f + out_f) + (out_f if self.bias else 0))
        for shape in ((self.rank, in_f), (out_f, self.rank), *([(out_f,)] if self.bias else [])):
            r.adapter_shapes[shape] = r.adapter_shapes.get(shape, 0) + n

    @property
    def rank(self) -> int:
        return self.result.rank


def _per_member(named: list[str]) -> bool:
    """Whether a target can tell two members of a group apart (a regex, or a name with a digit)."""
    return any(x.startswith("re:") or any(c.isdigit() for c in x) for x in named)


def match_lora(
    tensors: Sequence[LogicalTensor],
    targets: Iterable[str],
    rank: int,
    *,
    bias: bool = False,
    experts: bool = False,
    num_experts: int | None = None,
) -> LoRAMatch:
    """Adapters for every Linear whose module name matches ``targets``, with their real shapes.

    Routed experts are adapted only with ``experts=True``: transformers >= 5 holds them as fused 3-D
    parameters, which PEFT's ``target_modules`` / ``all-linear`` do not reach (per-expert ``nn.Linear``
    in transformers 4). ``all-linear`` also skips MoE routers (custom modules in transformers 5).
    A group of tensors (one name pattern) is matched once, unless a target could tell its members apart."""
    targets = list(targets)
    result = LoRAMatch(rank=rank, targets=targets)
    all_linear = next((x for x in targets if x.lower() in ("all-linear", "all_linear")), None)
    named = [x for x in targets if x.lower() not in ("all-linear", "all_linear")]
    m = _Matcher(result, named, all_linear, bias, experts, num_experts)
    each = _per_member(named)
    for t in tensors:
        if t.buffer:
            continue
        if each:
            for name in t.members:
                m.add(t, name, 1)
        else:
            m.add(t, t.name, t.count)
    leaves, hit = m.leaves, m.hit
    result.matched_leaves = list(leaves)
    result.unmatched_targets = [x for x in targets if x not in hit]
    return result


def nf4_bytes(n: int, *, double_quant: bool = True) -> tuple[int, int]:
    """(packed data bytes, absmax bytes) of one tensor of ``n`` elements in bitsandbytes NF4.

    Data: ``(n + 1) // 2`` bytes. absmax per 64-block: fp32 (``4 * cdiv(n, 64)``) or, with double
    quantization, uint8 per block + fp32 per 256 blocks (``cdiv(n, 64) + 4 * cdiv(cdiv(n, 64), 256)``).
    The per-tensor constants (codes, offset) are ``QUANT_STATE_CONSTANTS`` and counted separately.
    """
    blocks = cdiv(n, NF4_BLOCKSIZE)
    if double_quant:
        return (n + 1) // 2, blocks + 4 * cdiv(blocks, NESTED_BLOCKSIZE)
    return (n + 1) // 2, 4 * blocks
