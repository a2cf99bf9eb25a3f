"""Readers for single fields of config.json.

The text config object, KV heads, FFN / MoE sizes, the context length and the quantization config.
"""

from __future__ import annotations

from typing import Any

from hubmem.parse.model_types import GPT2_LIKE, TEXT_CONFIG_KEYS
from hubmem.parse.reader import Reader

# One key list per fact (vLLM / transformers spellings across families).
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


def find_text_config(config: dict[str, Any], problems: list[str]) -> tuple[dict[str, Any], str | None]:
    for key in TEXT_CONFIG_KEYS:
        value = config.get(key)
        if value is None:
            continue
        if isinstance(value, dict):
            return value, key
        problems.append(f"{key}: expected an object, got {type(value).__name__}; ignored")
    thinker = config.get("thinker_config")
    if isinstance(thinker, dict) and isinstance(thinker.get("text_config"), dict):
        return thinker["text_config"], "thinker_config.text_config"
    return config, None


def read_quantization(root: Reader, r: Reader) -> dict[str, Any] | None:
    for reader in (root, r):
        for key in ("quantization_config", "compression_config"):
            d = reader.get_dict(key)
            if d is not None:
                return d
    return None


def read_max_context(r: Reader, root: Reader) -> tuple[int | None, str | None]:
    keys = (
        "max_position_embeddings",
        "n_positions",
        "max_seq_len",
        "seq_length",
        "model_max_length",
        "max_target_positions",
        "max_sequence_length",
        "max_seq_length",
        "seq_len",
    )
    for reader in (r, root) if r is not root else (r,):
        found = [(v, k) for k in keys if (v := reader.get_int(k)) is not None]
        if found:
            v, k = min(found)
            return v, k
    return None, None


def read_kv_heads(
    r: Reader, nh: int | None, *, encoder_decoder: bool, t5_like: bool
) -> tuple[int | None, str | None]:
    """KV heads in vLLM get_total_num_kv_heads order, and a note when multi-head attention is assumed."""
    nkv: int | None = None
    nkv_note: str | None = None
    if r.get_bool("multi_query") is True and r.get_bool("new_decoder_architecture") is not True:
        nkv = 1
    if nkv is None and (attn_cfg := r.sub("attn_config")) is not None:
        nkv = attn_cfg.get_int("kv_n_heads")
    blocks = r.get_list("block_configs")
    if nkv is None and blocks is not None and nh is not None:
        for block in blocks:
            attn = block.get("attention") if isinstance(block, dict) else None
            if (
                isinstance(attn, dict)
                and attn.get("no_op") is not True
                and attn.get("replace_with_linear") is not True
            ):
                group = attn.get("n_heads_in_group")
                if isinstance(group, int) and not isinstance(group, bool) and group > 0:
                    nkv = nh // group
                break
    if nkv is None and encoder_decoder and not t5_like:
        nkv = r.get_int("decoder_attention_heads")
    if nkv is None:
        nkv = r.get_int(
            "n_head_kv",
            "n_kv_heads",
            "num_kv_heads",
            "num_key_value_heads",
            "multi_query_group_num",
            "num_attention_groups",
        )
    if nkv is None and nh is not None:
        nkv = nh
        nkv_note = (
            "no KV-head key: multi-head attention assumed (num_kv_heads = num_attention_heads), as vLLM does"
        )
    return nkv, nkv_note


def read_ffn_sizes(
    r: Reader, text_type: str, hidden: int | None, notes: list[str]
) -> tuple[int | None, int | None, int | None, int | None]:
    """(num_experts, experts_per_token, moe_intermediate_size, intermediate_size)."""
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
    return num_experts, per_tok, moe_inter, intermediate
