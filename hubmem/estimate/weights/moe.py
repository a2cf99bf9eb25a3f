"""Mixture-of-experts: total vs active parameters per token, from the tensors themselves.

Active parameters per token = every parameter of the main model minus the routed experts that are
not selected: ``active = non_routed + sum over MoE layers (routed_l x k / E)``. Shared experts,
routers, attention, embeddings, norms and dense layers (DeepSeek ``first_k_dense_replace``) are
always active. Multi-token-prediction modules (DeepSeek ``model.layers.{num_hidden_layers}``,
Qwen3-Next ``mtp.*``) are not used for normal decoding and are excluded from the active figure;
they are reported as ``mtp_parameters``. Packed experts (MXFP4, GPTQ, NVFP4 ...) count their
logical parameters. Works for one tensor per expert (``experts.N.w1``) and for stacked ``[E, ...]``
expert tensors (gpt-oss ``experts.gate_up_proj_blocks``, transformers-5 / Llama 4 ``experts.gate_up_proj``).

Vision / audio encoders and their projectors run once per image or clip, not per token, and are
left out of the active figure too (Llama 4 Scout's "17B active" is the text model's).

Publishers differ on whether the input-embedding table counts as active (one row is read per
token): Mixtral and Qwen count it, OpenAI's gpt-oss card does not; both figures are reported.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from fractions import Fraction

from hubmem.estimate.weights.components import (
    AUDIO,
    EXPERTS,
    MLP,
    MTP,
    PROJECTOR,
    ROUTER,
    SHARED_EXPERTS,
    VISION,
    Record,
)
from hubmem.estimate.weights.names import is_token_embedding
from hubmem.estimate.weights.segments import INDEX
from hubmem.schema.architecture import Architecture
from hubmem.schema.weights import MoEInfo

_PER_INPUT = (VISION, AUDIO, PROJECTOR)  # run per image / audio clip, not per token
_EXPERT_INDEX_RE = re.compile(rf"\.experts\.(?:expert_)?({INDEX})\.")


def _routing(routed: Sequence[Record], arch: Architecture, notes: list[str]) -> tuple[int, int] | None:
    """(experts per layer, experts per token), or None with a note when the routing is not derivable."""
    num_experts, k = arch.num_experts, arch.experts_per_token
    seen = _experts_seen(routed)
    if num_experts is None and seen:
        num_experts = seen
        notes.append(f"number of experts ({seen}) taken from the tensor names; not in config.json")
    if num_experts is not None and seen and seen != num_experts:
        notes.append(f"tensors hold {seen} experts per layer but config.json says {num_experts}")
    if not num_experts or not k:
        notes.append(
            "routed experts found but experts-per-token is not in config.json; active parameters not derived"
        )
        return None
    if k > num_experts:
        notes.append(
            f"experts per token ({k}) exceeds the number of experts ({num_experts}); active not derived"
        )
        return None
    return num_experts, k


def _active_routed(routed: Sequence[Record], frac: Fraction, notes: list[str]) -> tuple[int, int, int, int]:
    """(all routed parameters, all routed bytes, active routed parameters, active routed bytes)."""
    per_layer_params: dict[int | None, int] = defaultdict(int)
    per_layer_bytes: dict[int | None, int] = defaultdict(int)
    for r in routed:
        per_layer_params[r.layer] += r.parameters
        per_layer_bytes[r.layer] += r.bytes
    active = sum(Fraction(p) * frac for p in per_layer_params.values())
    active_bytes = sum(Fraction(b) * frac for b in per_layer_bytes.values())
    if active.denominator != 1:
        notes.append(
            "routed parameters per layer are not a multiple of the expert count; active figure rounded"
        )
    params, nbytes = sum(per_layer_params.values()), sum(per_layer_bytes.values())
    return params, nbytes, round(active), round(active_bytes)


def _dense_layers(
    routed: Sequence[Record], main: Sequence[Record], arch: Architecture, notes: list[str]
) -> int:
    moe_layers = {r.layer for r in routed if r.layer is not None}
    mlp_layers = {r.layer for r in main if r.component == MLP and r.layer is not None}
    dense = len(mlp_layers - moe_layers)
    first_dense = arch.first_dense_layers
    if first_dense and dense < first_dense:
        notes.append(f"config.json says {first_dense} dense layers first; {dense} found in the tensors")
    return dense


def _excluded_notes(towers: Sequence[Record], mtp: Sequence[Record], notes: list[str]) -> None:
    if towers:
        notes.append(
            f"vision / audio encoders and projectors ({sum(r.parameters for r in towers):,} parameters) run "
            "once per image or audio input, not per token: excluded from the active count"
        )
    if mtp:
        notes.append(
            f"{sum(r.count for r in mtp):,} multi-token-prediction tensors "
            f"({sum(r.parameters for r in mtp):,} parameters) "
            "are excluded from the active count (used only for speculative decoding)"
        )


def estimate_moe(
    records: Sequence[Record], arch: Architecture, *, tied_embeddings: bool | None
) -> tuple[MoEInfo | None, list[str]]:
    """``(MoEInfo or None, notes)``. None for dense models or when the routing is not derivable."""
    notes: list[str] = []
    routed = [r for r in records if r.component == EXPERTS]
    if not routed:
        if arch.num_experts:
            notes.append("config declares experts but no routed-expert tensors were recognised by name")
        return None, notes
    routing = _routing(routed, arch, notes)
    if routing is None:
        return None, notes
    num_experts, k = routing
    main = [r for r in records if r.component != MTP]
    mtp = [r for r in records if r.component == MTP]
    towers = [r for r in main if r.component in _PER_INPUT]
    expert_params, expert_bytes, active_routed, active_routed_bytes = _active_routed(
        routed, Fraction(k, num_experts), notes
    )
    active = (
        sum(r.parameters for r in main) - sum(r.parameters for r in towers) - expert_params + active_routed
    )
    active_bytes = (
        sum(r.bytes for r in main) - sum(r.bytes for r in towers) - expert_bytes + active_routed_bytes
    )
    embed = 0
    if not tied_embeddings:
        embed = sum(r.parameters for r in main if r.layer is None and is_token_embedding(r.name))
    moe_layers = len({r.layer for r in routed if r.layer is not None})
    dense_layers = _dense_layers(routed, main, arch, notes)
    shared_params = sum(r.parameters for r in main if r.component == SHARED_EXPERTS)
    shared = arch.shared_experts if arch.shared_experts is not None else (1 if shared_params else 0)
    _excluded_notes(towers, mtp, notes)
    info = MoEInfo(
        num_experts=num_experts,
        experts_per_token=k,
        shared_experts=shared,
        moe_layers=moe_layers,
        dense_layers=dense_layers,
        fused_experts=any(_EXPERT_INDEX_RE.search(r.name) is None for r in routed),
        expert_parameters=expert_params,
        expert_bytes=expert_bytes,
        parameters_per_expert=expert_params // (num_experts * max(1, moe_layers)),
        shared_expert_parameters=shared_params,
        router_parameters=sum(r.parameters for r in main if r.component == ROUTER),
        total_parameters=sum(r.parameters for r in records),
        mtp_parameters=sum(r.parameters for r in mtp),
        active_parameters=active,
        active_parameters_no_embedding=active - embed,
        active_bytes=active_bytes,
        notes=notes,
    )
    return info, []


def _experts_seen(routed: Sequence[Record]) -> int | None:
    """Experts per layer as the tensors show them: max index + 1, or the leading dim of stacked tensors."""
    return max((r.experts for r in routed if r.experts is not None), default=None)
