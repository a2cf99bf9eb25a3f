"""Feed-forward sizes: the dense MLP, MoE experts and routing, multi-token-prediction layers.

Read for the weights and training estimators; one key list per fact (vLLM / transformers spellings
across families).
"""

from __future__ import annotations

import msgspec

from hubmem.parse.model_types import GPT2_LIKE
from hubmem.parse.reader import MAX_LAYERS, Reader

NUM_EXPERTS_KEYS = ("num_experts", "moe_num_experts", "n_routed_experts", "num_local_experts")
EXPERTS_PER_TOKEN_KEYS = (
    "num_experts_per_tok",
    "num_experts_per_token",
    "experts_per_token",
    "top_k_experts",
    "moe_topk",
    "moe_top_k",
    "moe_k",
)
SHARED_EXPERTS_KEYS = (
    "n_shared_experts",
    "num_shared_experts",
    "moe_num_shared_experts",
    "num_shared_expert",
)
MTP_LAYERS_KEYS = ("num_nextn_predict_layers", "mtp_num_hidden_layers", "num_mtp_layers", "mtp_num_layers")


class FeedForward(msgspec.Struct, frozen=True):
    intermediate_size: int | None
    num_experts: int | None
    experts_per_token: int | None
    moe_intermediate_size: int | None


class MoeLayout(msgspec.Struct, frozen=True):
    shared_experts: int | None
    shared_expert_intermediate_size: int | None
    first_dense_layers: int | None  # first_k_dense_replace
    mtp_layers: int


def read_feed_forward(r: Reader, text_type: str, hidden: int | None, notes: list[str]) -> FeedForward:
    """Expert count, routing and sizes (DBRX keeps them in ``ffn_config``), and the dense MLP size."""
    num_experts = r.get_int(*NUM_EXPERTS_KEYS)
    ffn_cfg = r.sub("ffn_config")
    if num_experts is None and ffn_cfg is not None:
        num_experts = ffn_cfg.get_int("moe_num_experts")
    per_tok = r.get_int(*EXPERTS_PER_TOKEN_KEYS)
    if per_tok is None and ffn_cfg is not None:
        per_tok = ffn_cfg.get_int("moe_top_k")
    moe_inter = r.get_int("moe_intermediate_size")
    if moe_inter is None and ffn_cfg is not None:
        moe_inter = ffn_cfg.get_int("ffn_hidden_size")
    intermediate = r.get_int("intermediate_size", "n_inner", "ffn_dim", "d_ff", "ffn_hidden_size")
    if intermediate is None and text_type in GPT2_LIKE and hidden is not None:
        intermediate = 4 * hidden
        notes.append(f"{text_type}: n_inner / intermediate_size unset, default 4 x hidden_size")
    return FeedForward(
        intermediate_size=intermediate,
        num_experts=num_experts,
        experts_per_token=per_tok,
        moe_intermediate_size=moe_inter,
    )


def read_moe_layout(r: Reader) -> MoeLayout:
    """Shared experts, leading dense layers and MTP draft layers."""
    return MoeLayout(
        shared_experts=r.get_int(*SHARED_EXPERTS_KEYS),
        shared_expert_intermediate_size=r.get_int(
            "shared_expert_intermediate_size", "moe_shared_expert_intermediate_size"
        ),
        first_dense_layers=r.get_int("first_k_dense_replace", minimum=0, maximum=MAX_LAYERS),
        mtp_layers=r.get_int(*MTP_LAYERS_KEYS, minimum=0, maximum=MAX_LAYERS) or 0,
    )
