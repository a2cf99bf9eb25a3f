"""How vLLM splits one checkpoint tensor over tensor-parallel ranks (``model_executor/layers/linear.py``,
``vocab_parallel_embedding.py``, ``fused_moe/layer.py`` @0.10.2 ... 0.19.0), read off the tensor's module
name.

* ``VocabParallelEmbedding`` / ``ParallelLMHead``: ``pad(V, 64) / tp`` rows (``pad_vocab_size``,
  ``DEFAULT_VOCAB_PADDING_SIZE = 64``, on the global vocab).
* ``QKVParallelLinear``: query heads ``nh / tp``; KV heads ``max(1, nkv / tp)`` - **replicated** when
  ``nkv < tp`` (``num_kv_head_replicas``).
* ``ColumnParallelLinear`` / ``MergedColumnParallelLinear``: output rows ``/ tp`` (bias too);
  ``RowParallelLinear``: input columns ``/ tp``, bias whole; ``ReplicatedLinear``, norms, routers: whole.
* ``FusedMoE``: each expert ``/ tp`` like the dense MLP, or with ``--enable-expert-parallel`` whole experts,
  ``E / ep`` of them per rank (``determine_expert_map``).
* Block-quantized scales follow their weight with ``cdiv`` on the split dimension; GPTQ/AWQ tensors
  (``qweight``, ``qzeros``, ``scales``, ``g_idx``) are stored transposed (``[in, out]``).
* Unquantized floating tensors are loaded in the model dtype; scales, zero points, ``A_log``/``D`` and
  DeepSeek's ``e_score_correction_bias`` keep theirs.

A module name none of the tables knows is counted whole on every rank and named in ``Share.undetermined``.
"""

from __future__ import annotations

import re

import msgspec

from hubmem.estimate.training.optimizers import cdiv
from hubmem.estimate.weights.names import is_norm_segment, module_of
from hubmem.formats.safetensors import Tensor

COLUMN = frozenset(
    {
        "q_proj", "gate_proj", "up_proj", "gate_up_proj", "w1", "w3", "fc1", "c_fc", "dense_h_to_4h",
        "in_proj",
        "in_proj_qkvz", "in_proj_ba", "in_proj_qkv", "in_proj_z", "in_proj_b", "in_proj_a", "q_b_proj",
        "kv_b_proj", "wq", "query", "fc_in", "linear_fc1", "up", "conv1d", "input_linear",
    }
)  # fmt: skip
KV = frozenset({"k_proj", "v_proj", "key", "value", "wk", "wv"})
FUSED_QKV = frozenset({"qkv_proj", "c_attn", "query_key_value", "Wqkv", "qkv"})
ROW = frozenset(
    {
        "o_proj", "down_proj", "w2", "fc2", "c_proj", "dense_4h_to_h", "out_proj", "dense", "wo",
        "linear_fc2",
        "fc_out", "proj", "output_linear",
    }
)  # fmt: skip
HEAD_VECTORS = frozenset({"sinks", "A_log", "D", "dt_bias", "A", "dt_proj"})  # one value per head: split
KEEP_DTYPE = re.compile(r"(scale|zero|^A_log$|^D$|e_score_correction_bias|g_idx)", re.IGNORECASE)
TRANSPOSED = frozenset({"qweight", "qzeros", "scales", "g_idx"})  # GPTQ / AWQ packed layouts: [in, out]
FLOAT_DTYPES = frozenset({"F32", "F16", "BF16", "F64"})
_EXPERT_INDEX = re.compile(r"\.experts\.(\d+)\.")


class Layout(msgspec.Struct, frozen=True):
    """The parallel layout one rank sees."""

    tp: int
    ep: int
    num_heads: int
    num_kv_heads: int
    num_experts: int
    dtype_bytes: int  # the model dtype unquantized floating tensors are loaded in

    @property
    def kv_heads_per_rank(self) -> int:
        return max(1, self.num_kv_heads // self.tp)

    @property
    def local_experts(self) -> int:
        """Experts on EP rank 0: ``E // ep`` plus one of the remainder (``determine_expert_map``)."""
        return self.num_experts // self.ep + (1 if self.num_experts % self.ep else 0)


class Share(msgspec.Struct, frozen=True):
    bytes: int
    rule: str  # vocab | column | row | qkv | replicated | experts-ep | undetermined
    undetermined: bool = False


def loaded_bytes(t: Tensor, layout: Layout) -> int:
    """The tensor's bytes as vLLM holds it before any split (model dtype for unquantized floats)."""
    suffix = t.name.rsplit(".", 1)[-1]
    if t.dtype in FLOAT_DTYPES and not KEEP_DTYPE.search(suffix):
        return t.numel * layout.dtype_bytes
    return t.nbytes


def _split(t: Tensor, nbytes: int, dim: int, num: int, den: int) -> int:
    """``nbytes`` of ``t`` keeping ``num/den`` of dimension ``dim`` (``cdiv``, as scales round up)."""
    if not t.shape or num == den:
        return nbytes
    size = t.shape[dim]
    if size == 0:
        return 0
    return nbytes // size * cdiv(size * num, den)


def leaf(name: str) -> tuple[str, str]:
    """(module leaf, tensor suffix): ``a.q_proj.weight_scale_inv`` -> ``("q_proj", "weight_scale_inv")``."""
    module = module_of(name)
    return module.rsplit(".", 1)[-1], name[len(module) + 1 :] if len(name) > len(module) else ""


def _dims(suffix: str) -> tuple[int, int]:
    """(column split dim, row split dim) of a tensor with this suffix."""
    return (-1, 0) if suffix in TRANSPOSED else (0, -1)


def vocab_share(t: Tensor, layout: Layout, nbytes: int) -> Share:
    rows = t.shape[0] if t.shape else 0
    if not rows:
        return Share(nbytes, "vocab")
    padded = cdiv(rows, 64) * 64
    return Share(nbytes // rows * cdiv(padded, layout.tp), "vocab")


REPLICATED = frozenset(
    {
        "gate", "router", "shared_expert_gate", "q_a_proj", "kv_a_proj_with_mqa", "wpe",
        "position_embeddings", "token_type_embeddings", "pos_embed", "embed_positions",
    }
)  # fmt: skip


def _rule(module: str, suffix: str) -> str:
    if module in KV:
        return "kv"
    if module in FUSED_QKV:
        return "qkv"
    if module in COLUMN:
        return "column"
    if module in ROW:
        return "row"
    if module in HEAD_VECTORS or suffix in HEAD_VECTORS:
        return "heads"
    if is_norm_segment(module) or module in REPLICATED:
        return "replicated"
    return "undetermined"


def _fraction(rule: str, layout: Layout) -> tuple[int, int]:
    """The kept fraction ``num / den`` of the split dimension under ``rule``."""
    if rule == "kv":
        return layout.kv_heads_per_rank, layout.num_kv_heads or 1
    if rule == "qkv":
        nh, nkv = layout.num_heads, layout.num_kv_heads or layout.num_heads
        return nh // layout.tp + 2 * layout.kv_heads_per_rank, nh + 2 * nkv
    return (1, layout.tp) if rule in ("column", "row", "heads") else (1, 1)


def _one_d(rule: str, suffix: str) -> bool:
    """Whether a 1-D tensor of this rule is split: column biases and per-head vectors are, row biases are
    not; ``g_idx`` (the input permutation) is split only on row-parallel layers."""
    if suffix == "g_idx":
        return rule == "row"
    return rule in ("kv", "qkv", "column", "heads")


def dense_share(t: Tensor, layout: Layout, nbytes: int) -> Share:
    """A tensor of a decoder layer (or a tower): its rule from the module leaf and suffix."""
    module, suffix = leaf(t.name)
    rule = _rule(module, suffix)
    num, den = _fraction(rule, layout)
    if len(t.shape) <= 1:
        kept = _split(t, nbytes, 0, num, den) if _one_d(rule, suffix) else nbytes
        return Share(kept, "replicated" if rule == "undetermined" else rule)
    column_dim, row_dim = _dims(suffix)
    kept = _split(t, nbytes, row_dim if rule == "row" else column_dim, num, den)
    return Share(kept, rule, undetermined=rule == "undetermined")


def expert_share(t: Tensor, layout: Layout, nbytes: int) -> Share | None:
    """A routed-expert tensor under TP (split like the dense MLP) or EP (whole experts on their rank);
    None for an expert this rank does not hold."""
    if layout.ep == 1:
        return dense_share(t, layout, nbytes)
    match = _EXPERT_INDEX.search(t.name)
    if match is not None:  # one tensor per expert: rank 0 holds experts [0, local_experts)
        return Share(nbytes, "experts-ep") if int(match.group(1)) < layout.local_experts else None
    if t.shape and t.shape[0] == layout.num_experts:  # fused [E, ...]
        return Share(nbytes // layout.num_experts * layout.local_experts, "experts-ep")
    return Share(nbytes, "experts-ep")
