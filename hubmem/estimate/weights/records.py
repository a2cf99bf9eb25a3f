"""The tensors grouped into :class:`~hubmem.estimate.weights.components.Record` s: one per name pattern
(digits masked), layer, dtype, shape, file, component and quantization role.

A checkpoint repeats a few hundred patterns over up to 100k tensors (every expert of every layer), so each
tensor costs a pattern lookup and the reading of its layer number; everything else is decided once per
pattern, and the weights estimate then works on ~1,000 records instead of every tensor.
"""

from __future__ import annotations

import re
from typing import Any

from hubmem.estimate.weights.components import EXPERTS, Classifier, Record
from hubmem.estimate.weights.names import layer_index
from hubmem.estimate.weights.quant_roles import QuantCounter, Role
from hubmem.formats.safetensors import Tensor
from hubmem.schema.architecture import Architecture

_MTP_MARKERS = ("eh_proj", "enorm", "hnorm", "shared_head")


_EXPERT_INDEX_RE = re.compile(r"\.experts\.(?:expert_)?(\d+)\.")


def _experts(name: str, shape: tuple[int, ...]) -> int | None:
    """Experts a routed-expert tensor shows: its index + 1, or the leading dim of a stacked ``[E, ...]``."""
    m = _EXPERT_INDEX_RE.search(name)
    if m:
        return int(m.group(1)) + 1
    if len(shape) >= 3 or (len(shape) == 2 and name.endswith("bias")):
        return shape[0]  # stacked [E, ...] (gpt-oss *_blocks / *_bias, transformers-5 gate_up_proj)
    return None


# (pattern, layer, dtype, shape, file, component, role, parameters per tensor)
_GroupKey = tuple[str, int | None, str, tuple[int, ...], str, str, Role, int]


def records_of(
    tensors: list[Tensor], masked: list[str], arch: Architecture, counter: QuantCounter, mtp: bool
) -> list[Record]:
    """The tensors grouped into records (see :class:`Record`): component, layer, quantization role and
    logical parameters are decided once per name pattern; only the layer number is read from every name."""
    locate = Classifier(num_layers=arch.num_layers, mtp=mtp).locate
    roles: dict[tuple[str, str, tuple[int, ...]], tuple[Role, int, int]] = {}
    groups: dict[_GroupKey, list[Any]] = {}
    for t, pattern in zip(tensors, masked, strict=True):
        if counter.by_pattern:
            found = roles.get((pattern, t.dtype, t.shape))
            if found is None:
                found = roles[(pattern, t.dtype, t.shape)] = _count(counter, t)
            role, params, inexact = found
            counter.inexact += inexact
        else:
            role, params = counter.count(t)
        component, layer = locate(t.name, t.shape, pattern)
        key = (pattern, layer, t.dtype, t.shape, t.file, component, role, params)
        group = groups.get(key)
        experts = _experts(t.name, t.shape) if component == EXPERTS else None
        if group is None:
            groups[key] = [t, 1, experts]
        else:
            group[1] += 1
            if experts is not None and (group[2] is None or experts > group[2]):
                group[2] = experts
    return [
        Record(
            t.name,
            t.dtype,
            t.shape,
            t.file,
            n * t.nbytes,
            n * t.numel,
            n * key[7],
            key[6],
            key[5],
            key[1],
            n,
            e,
        )
        for key, (t, n, e) in groups.items()
    ]


def _count(counter: QuantCounter, t: Tensor) -> tuple[Role, int, int]:
    """(role, logical parameters, inexact packings) of ``t``; the counter's inexact tally is left as it was
    (the caller adds the third figure once per tensor of the pattern)."""
    before = counter.inexact
    role, params = counter.count(t)
    inexact, counter.inexact = counter.inexact - before, before
    return role, params, inexact


def has_mtp(tensors: list[Tensor], masked: list[str], arch: Architecture) -> bool:
    """Are layers at index >= num_hidden_layers multi-token-prediction modules? (The config says so, or
    tensors with MTP markers sit there; markers are looked for once per name pattern.)"""
    if arch.mtp_layers > 0:
        return True
    if arch.num_layers is None:
        return False
    marked = {p for p in set(masked) if any(m in p for m in _MTP_MARKERS)}
    for t, pattern in zip(tensors, masked, strict=True):
        if pattern in marked and (li := layer_index(t.name)) is not None and li[0] >= arch.num_layers:
            return True
    return False
