"""The per-checkpoint half of a training projection (docs/theory.md section 4).

``prepare_training`` reads the checkpoint once: its logical tensors (packed weights unpacked, scales
folded into their module), which of them are trainable, the quantization family and whether the MLP is
gated. Every option set (optimizer, LoRA rank, ZeRO stage, GPU count ...) is then projected from this one
object (:func:`hubmem.estimate.training.report.project_training`), so the fit solver, which tries many
GPU counts, never walks the tensor list again.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from hubmem.estimate.table import TensorTable
from hubmem.estimate.training.logical import LogicalTensor, quant_kind
from hubmem.estimate.training.tensor_groups import logical_groups
from hubmem.estimate.weights.components import BUFFERS, classify_tensor
from hubmem.formats.safetensors import Tensor
from hubmem.schema.architecture import Architecture
from hubmem.schema.weights import WeightsReport

_GATED_MARKERS = ("gate_proj", "gate_up_proj", ".w3.", "up_proj")


class PreparedModel(msgspec.Struct, frozen=True):
    """What every training projection of one checkpoint shares."""

    arch: Architecture
    quant: str | None  # packing family (gptq, awq, bnb4, mxfp4 ...), None for an unquantized checkpoint
    bits: int  # nominal bits of the quantized weights
    tensors: tuple[LogicalTensor, ...]  # every logical tensor, buffers included
    params: tuple[LogicalTensor, ...]  # the parameters (candidates for training)
    buffers: tuple[LogicalTensor, ...]  # integer / bool tensors and stored masks: never trained
    parameters: int  # sum of the parameters' logical element counts
    buffer_bytes: int
    gated_mlp: bool  # SwiGLU-style MLP (picks the Llama activation formula)
    weights_parameters: int  # the weights section's logical parameter count (for the unpacking note)


def _is_gated(tensors: Sequence[LogicalTensor]) -> bool:
    return any(marker in t.name for t in tensors for marker in _GATED_MARKERS)


def _as_buffer(t: LogicalTensor) -> LogicalTensor:
    """A stored float buffer (GPT-2's ``attn.bias`` causal mask) is a buffer too: never trained."""
    if t.buffer or t.shape is None or classify_tensor(t.name, t.shape).component != BUFFERS:
        return t
    return msgspec.structs.replace(t, buffer=True)


def prepare_training(
    weights: WeightsReport, tensors: Sequence[Tensor], arch: Architecture, table: TensorTable | None = None
) -> PreparedModel:
    """One pass over the checkpoint's tensors (grouped in ``table``) for every later training projection."""
    quant, bits = quant_kind(weights)
    lts = tuple(
        _as_buffer(t) for t in logical_groups(tensors, quant=quant, bits=bits, arch=arch, table=table)
    )
    params = tuple(t for t in lts if not t.buffer)
    buffers = tuple(t for t in lts if t.buffer)
    return PreparedModel(
        arch=arch,
        quant=quant,
        bits=bits,
        tensors=lts,
        params=params,
        buffers=buffers,
        parameters=sum(t.total_params for t in params),
        buffer_bytes=sum(t.stored_bytes for t in buffers),
        gated_mlp=_is_gated(lts),
        weights_parameters=weights.parameters,
    )
