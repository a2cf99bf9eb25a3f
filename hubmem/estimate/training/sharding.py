"""Per-GPU model states under ZeRO-1/2/3, FSDP and tensor parallelism (docs/theory.md section 4.3).

ZeRO paper (arXiv:1910.02054 section 5.1) with data-parallel degree ``Nd``:

* ZeRO-1 (P_os):       weights + grads + optimizer/Nd            (4Ψ + 12Ψ/Nd for mixed AdamW)
* ZeRO-2 (P_os+g):     weights + (grads + optimizer)/Nd          (2Ψ + 14Ψ/Nd)
* ZeRO-3 (P_os+g+p):   (weights + grads + optimizer)/Nd          (16Ψ/Nd)

"optimizer" includes the fp32 master copy. PyTorch FSDP: ``NO_SHARD`` ~ DDP, ``SHARD_GRAD_OP`` ~ ZeRO-2,
``FULL_SHARD`` ~ ZeRO-3, ``HYBRID_SHARD`` ~ ZeRO-3 within a node. ZeRO-3 and FULL_SHARD also hold the
gathered 16-bit parameters (+ gradients) of the unit being computed: DeepSpeed's estimator counts
``4 * largest_layer_params`` (largest module's own parameters, stage3.py); for FSDP the unit is one
wrapped decoder layer, or the root remainder (embeddings, head, final norm) [derived].
Tensor parallelism divides every state by ``t`` first (replicated norms ignored); the data-parallel
degree is ``gpus / t``. Ceil division: a partition is never smaller than its share.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from hubmem.estimate.training.optimizers import cdiv
from hubmem.schema.training import TrainingOptions

_UNIT = re.compile(r"^(.*?\.\d+)\.")


def stage_of(zero: int, fsdp: str) -> int:
    """The ZeRO stage equivalent of a ZeRO / FSDP setting."""
    if fsdp == "none":
        return zero
    return {"no_shard": 0, "shard_grad_op": 2, "full_shard": 3, "hybrid_shard": 3}[fsdp]


def shard_degree(fsdp: str, dp: int, gpus_per_node: int) -> int:
    """HYBRID_SHARD shards within a node and replicates across nodes."""
    return min(dp, gpus_per_node) if fsdp == "hybrid_shard" else dp


# the first ZeRO stage that partitions each kind of state
FIRST_STAGE = {"optimizer": 1, "grads": 2, "weights": 3, "frozen": 3}


def shard_bytes(nbytes: int, kind: str, *, stage: int, degree: int, tp: int = 1) -> int:
    """Per-GPU bytes of one kind of state: ``/tp`` (tensor parallel), then ``/degree`` once ZeRO ``stage``
    partitions that kind (optimizer from stage 1, gradients from 2, weights from 3)."""
    per = cdiv(nbytes, tp)
    return cdiv(per, degree) if stage >= FIRST_STAGE[kind] else per


def label(zero: int, fsdp: str) -> str:
    if fsdp != "none":
        return f"fsdp-{fsdp}"
    return f"zero-{zero}" if zero else "none"


def largest_module(items: Iterable[tuple[str, int]]) -> tuple[str, int]:
    """(module, bytes) of the module whose own tensors hold the most bytes (``recurse=False``)."""
    per: dict[str, int] = defaultdict(int)
    for name, nbytes in items:
        per[name.rsplit(".", 1)[0] if "." in name else name] += nbytes
    if not per:
        return "", 0
    return max(per.items(), key=lambda kv: kv[1])


def largest_unit(items: Iterable[tuple[str, int]]) -> tuple[str, int]:
    """(unit, bytes) of the largest FSDP wrapping unit: a numbered block (``...layers.7``) or the root
    remainder (every tensor outside numbered blocks: embeddings, head, final norm)."""
    per: dict[str, int] = defaultdict(int)
    for name, nbytes in items:
        m = _UNIT.match(name)
        per[m.group(1) if m else "<root>"] += nbytes
    if not per:
        return "", 0
    return max(per.items(), key=lambda kv: kv[1])


class Sharder:
    """Per-GPU bytes of each kind of state for one layout (``gpus``, tensor parallel, ZeRO / FSDP)."""

    def __init__(self, options: TrainingOptions, gpus: int | None = None) -> None:
        gpus = options.gpus if gpus is None else gpus
        self.tp = options.tensor_parallel
        self.dp = gpus // options.tensor_parallel
        self.stage = stage_of(options.zero, options.fsdp)
        self.degree = shard_degree(options.fsdp, self.dp, options.gpus_per_node)
        self.label = label(options.zero, options.fsdp)

    def __call__(self, nbytes: int, kind: str) -> int:
        return shard_bytes(nbytes, kind, stage=self.stage, degree=self.degree, tp=self.tp)

    def suffix(self, kind: str) -> str:
        """How a formula says it was sharded: `` / t=2 / Nd=8 (zero-3)``."""
        parts = []
        if self.tp > 1:
            parts.append(f" / t={self.tp}")
        if self.stage >= FIRST_STAGE[kind] and self.degree > 1:
            parts.append(f" / Nd={self.degree} ({self.label})")
        return "".join(parts)
