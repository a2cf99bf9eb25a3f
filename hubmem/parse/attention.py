"""Attention heads and head sizes (docs/theory.md 1.2, 2.2): query heads, KV heads, head_dim, MLA.

MLA is read before head_dim: an MLA model caches one latent of ``kv_lora_rank + qk_rope_head_dim`` per
token per layer, and that width is its head_dim (vLLM get_head_size).
"""

from __future__ import annotations

from typing import Any

import msgspec

from hubmem.formats.json_reader import brief
from hubmem.parse.model_types import MLA_MODEL_TYPES
from hubmem.parse.reader import Reader, positive_int
from hubmem.parse.text_config import TextConfig
from hubmem.schema.architecture import MLAConfig


class AttentionDims(msgspec.Struct, frozen=True):
    num_heads: int | None
    num_kv_heads: int | None  # MLA: 1 (one shared latent)
    head_dim: int | None  # MLA: the latent width
    v_head_dim: int | None
    mla: MLAConfig | None = None
    kv_heads_note: str | None = None  # "multi-head attention assumed": reported when some layer attends

    def attention_free(self) -> AttentionDims:
        """A model whose layers never attend: no KV heads and no head size (vLLM get_head_size -> 0)."""
        return msgspec.structs.replace(self, head_dim=0, num_kv_heads=0, v_head_dim=0)


def read_attention(tc: TextConfig, hidden: int | None, notes: list[str]) -> AttentionDims:
    r = tc.reader
    head_keys = ["num_attention_heads", "n_head", "n_heads", "encoder_attention_heads"]
    if tc.text_type not in ("mamba", "falcon_mamba", "mamba2"):  # their num_heads are the SSM heads
        head_keys.insert(2, "num_heads")
    nh = r.get_int(*head_keys)
    nkv, nkv_note = read_kv_heads(r, nh, encoder_decoder=tc.encoder_decoder, t5_like=tc.t5_like)
    mla = read_mla(r, tc.text_type, nh, notes)
    if mla is not None:
        latent = mla.kv_lora_rank + mla.qk_rope_head_dim
        notes.append(
            f"MLA: one latent of kv_lora_rank+qk_rope_head_dim = {latent} per token per layer "
            f"(num_kv_heads=1); config num_key_value_heads={brief(r.raw('num_key_value_heads'))} applies to "
            "the decompressed heads only"
        )
        return AttentionDims(num_heads=nh, num_kv_heads=1, head_dim=latent, v_head_dim=None, mla=mla)
    decoder_heads = tc.encoder_decoder and not tc.t5_like
    head_dim = _head_dim(r, tc.text_type, hidden, nh, decoder_heads=decoder_heads, notes=notes)
    return AttentionDims(
        num_heads=nh, num_kv_heads=nkv, head_dim=head_dim, v_head_dim=head_dim, kv_heads_note=nkv_note
    )


def _head_dim(
    r: Reader, text_type: str, hidden: int | None, nh: int | None, *, decoder_heads: bool, notes: list[str]
) -> int | None:
    """head_dim from its keys, else hidden_size over the (decoder) heads."""
    head_dim = _zamba2_head_dim(r, hidden, nh, notes) if text_type == "zamba2" else None
    if head_dim is None:
        head_dim = r.get_int("head_dim", "hidden_size_per_head", "d_kv", "kv_channels")
    if head_dim is None and decoder_heads:
        dec_heads = r.get_int("decoder_attention_heads")
        if hidden and dec_heads:
            head_dim = hidden // dec_heads
    if head_dim is None and hidden and nh:
        head_dim = hidden // nh
        if hidden % nh:
            notes.append(
                f"hidden_size {hidden} is not a multiple of {nh} heads; head_dim = {head_dim} (floor)"
            )
    return head_dim


def _zamba2_head_dim(r: Reader, hidden: int | None, nh: int | None, notes: list[str]) -> int | None:
    head_dim = r.get_int("attention_head_dim")
    if head_dim is None and hidden and nh:
        head_dim = 2 * hidden // nh
        notes.append("Zamba2Config: attention_head_dim = 2*hidden_size // num_attention_heads")
    return head_dim


def read_kv_heads(
    r: Reader, nh: int | None, *, encoder_decoder: bool, t5_like: bool
) -> tuple[int | None, str | None]:
    """KV heads in vLLM get_total_num_kv_heads order, and a note when multi-head attention is assumed."""
    nkv: int | None = None
    if r.get_bool("multi_query") is True and r.get_bool("new_decoder_architecture") is not True:
        nkv = 1
    if nkv is None and (attn_cfg := r.sub("attn_config")) is not None:
        nkv = attn_cfg.get_int("kv_n_heads")
    blocks = r.get_list("block_configs")
    if nkv is None and blocks is not None and nh is not None:
        nkv = _nas_kv_heads(blocks, nh)
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
        note = (
            "no KV-head key: multi-head attention assumed (num_kv_heads = num_attention_heads), as vLLM does"
        )
        return nh, note
    return nkv, None


def _nas_kv_heads(blocks: list[Any], nh: int) -> int | None:
    """Nemotron-NAS: KV heads of the first block that attends (num_attention_heads / n_heads_in_group)."""
    for block in blocks:
        attn = block.get("attention") if isinstance(block, dict) else None
        if (
            isinstance(attn, dict)
            and attn.get("no_op") is not True
            and attn.get("replace_with_linear") is not True
        ):
            group = positive_int(attn.get("n_heads_in_group"))
            return nh // group if group is not None else None
    return None


def read_mla(r: Reader, text_type: str, nh: int | None, notes: list[str]) -> MLAConfig | None:
    rank = r.get_int("kv_lora_rank")
    rope = r.get_int("qk_rope_head_dim")
    if rank is None:
        return None
    if rope is None:
        return None
    if text_type not in MLA_MODEL_TYPES:
        notes.append(
            f"MLA cache assumed from kv_lora_rank (model_type {text_type!r} is not in vLLM's MLA list)"
        )
    index_dim = r.get_int("index_head_dim") if r.has("index_topk") or text_type == "deepseek_v32" else None
    return MLAConfig(
        kv_lora_rank=rank,
        qk_rope_head_dim=rope,
        qk_nope_head_dim=r.get_int("qk_nope_head_dim"),
        v_head_dim=r.get_int("v_head_dim"),
        q_lora_rank=r.get_int("q_lora_rank"),
        num_heads=nh,
        index_head_dim=index_dim,
        index_n_heads=r.get_int("index_n_heads") if index_dim else None,
    )
