"""The tensors grouped into :class:`~hubmem.estimate.weights.components.Record` s: one per name pattern
(digits masked), layer, dtype, shape, file, component and quantization role.

A checkpoint repeats a few hundred patterns over up to 100k tensors (every expert of every layer), so each
tensor costs a pattern lookup and the reading of its layer number; everything else is decided once per
pattern, and the weights estimate then works on ~1,000 records instead of every tensor. In a large group
the numbers are read as columns of the members' names joined (:func:`_tally_columns`), not name by name.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hubmem.estimate.table import TensorGroup, TensorTable
from hubmem.estimate.weights.components import EXPERTS, Classifier, Record
from hubmem.estimate.weights.names import layer_index
from hubmem.estimate.weights.quant_roles import QuantCounter, Role
from hubmem.estimate.weights.segments import LAYER_INDEX_RE
from hubmem.formats.safetensors import Tensor
from hubmem.schema.architecture import Architecture

_MTP_MARKERS = ("eh_proj", "enorm", "hnorm", "shared_head")
# tensors of a group from which reading its numbers by columns pays: the columns cost a few microseconds
# per group and per file, one tensor read by itself half a microsecond (from 64, the bundled fixture repos'
# reports took ~5 % longer than name by name)
COLUMNS_FROM = 256


def _expert_segment(name: str) -> int | None:
    """Index in ``name.split(".")`` of the expert number (``experts.7`` or ``experts.expert_7``)."""
    segs = name.split(".")
    for i in range(2, len(segs)):
        if segs[i - 1] == "experts" and segs[i].removeprefix("expert_").isdigit() and i < len(segs) - 1:
            return i
    return None


def _stacked_experts(t: Tensor) -> int | None:
    """The leading dim of a stacked ``[E, ...]`` expert tensor (gpt-oss ``*_blocks`` / ``*_bias``,
    transformers-5 ``gate_up_proj``), else None."""
    if len(t.shape) >= 3 or (len(t.shape) == 2 and t.name.endswith("bias")):
        return t.shape[0]
    return None


def records_of(table: TensorTable, arch: Architecture, counter: QuantCounter, mtp: bool) -> list[Record]:
    """The tensors grouped into records (see :class:`Record`): component and quantization role are decided
    once per group of the table; only the layer and expert numbers (and the file) are read per tensor."""
    classify = Classifier(num_layers=arch.num_layers, mtp=mtp)
    out: list[Record] = []
    for group in table.groups:
        first = group.first
        base, segment = classify.pattern(first.name, first.shape, group.pattern)
        expert = _expert_segment(first.name) if base.component == EXPERTS else None
        counts, experts = _tally(group, segment, expert, base.layer, counter)
        shown = experts or (_stacked_experts(first) if base.component == EXPERTS else None)
        for (layer, file, role, params), (t, n) in counts.items():
            key = (layer, file, classify.component(base, layer), role, params)
            out.append(_record(t, n, key, shown))
    return out


def _tally(
    group: TensorGroup, segment: int | None, expert: int | None, layer: int | None, counter: QuantCounter
) -> tuple[dict[tuple[int | None, str, Role, int], list[Any]], int]:
    """Tensors of one table group per (layer, file, role, parameters), and the largest expert number + 1."""
    role, params = _group_role(counter, group)
    if counter.by_pattern and len(group.tensors) >= COLUMNS_FROM:
        found = _tally_columns(group, segment, expert, layer, role, params)
        if found is not None:
            return found
    return _tally_each(group, segment, expert, layer, counter, role, params)


def _tally_each(
    group: TensorGroup,
    segment: int | None,
    expert: int | None,
    layer: int | None,
    counter: QuantCounter,
    role: Role,
    params: int,
) -> tuple[dict[tuple[int | None, str, Role, int], list[Any]], int]:
    """:func:`_tally` tensor by tensor: the numbers read from each name, the role asked for each tensor
    when it depends on the siblings."""
    cut = max(segment or 0, expert or 0) + 1
    counts: dict[tuple[int | None, str, Role, int], list[Any]] = {}
    experts, default = 0, layer
    for t in group.tensors:
        if not counter.by_pattern:
            role, params = counter.count(t)
        if segment is not None or expert is not None:
            parts = t.name.split(".", cut)
            if segment is not None:  # not an index ('#', '²', 10+ digits): no layer, as Classifier.locate
                layer = int(parts[segment]) if LAYER_INDEX_RE.match(parts[segment]) else default
            if expert is not None and LAYER_INDEX_RE.match(number := parts[expert].removeprefix("expert_")):
                experts = max(experts, 1 + int(number))
        found = counts.get((layer, t.file, role, params))
        if found is None:
            counts[(layer, t.file, role, params)] = [t, 1]
        else:
            found[1] += 1
    return counts, experts


def _span(name: str, segment: int) -> tuple[int, int]:
    """Where segment ``segment`` of ``name.split(".")`` sits in ``name``."""
    segments = name.split(".")
    start = sum(len(s) + 1 for s in segments[:segment])
    return start, start + len(segments[segment])


def _tally_columns(
    group: TensorGroup, segment: int | None, expert: int | None, layer: int | None, role: Role, params: int
) -> tuple[dict[tuple[int | None, str, Role, int], list[Any]], int] | None:
    """:func:`_tally` of a group whose roles depend on its pattern alone, read by columns, not by tensor.

    The members of a group have one pattern (digits masked), so they have the same length and their layer
    and expert numbers sit at the same offsets: those digits are read as columns of all names joined (one
    strided slice each), and a file whose members hold a single layer (the usual shard) is one record
    without reading any name. None when a name could read differently (a ``#`` masks like a digit, a number
    that is no index: not 1-9 ASCII digits, a file whose tensors are not contiguous): the caller then reads
    each tensor."""
    names = group.names
    first, size = names[0], len(names[0])
    joined = "".join(names)
    at = _span(first, segment) if segment is not None else None
    if "#" in joined or (at is not None and not LAYER_INDEX_RE.match(first[at[0] : at[1]])):
        return None
    experts = 0
    if expert is not None:
        start, end = _span(first, expert)
        start = end - len(first[start:end].removeprefix("expert_"))
        if not LAYER_INDEX_RE.match(first[start:end]):
            return None
        # same width, and the digits that differ are ASCII: the largest text is the largest number
        top = max(zip(*(joined[start + i :: size] for i in range(end - start)), strict=True))
        experts = 1 + int("".join(top))
    files = [t.file for t in group.tensors]
    counts: dict[tuple[int | None, str, Role, int], list[Any]] = {}
    begin = 0
    for file, n in Counter(files).items():
        stop = begin + n
        if files[begin:stop].count(file) != n:  # this file's tensors are not one run
            return None
        if at is None:
            counts[(layer, file, role, params)] = [group.tensors[begin], n]
        else:
            for text, (i, k) in _layers(names, joined, at, begin, stop).items():
                counts[(int(text), file, role, params)] = [group.tensors[i], k]
        begin = stop
    return counts, experts


def _layers(
    names: list[str], joined: str, at: tuple[int, int], begin: int, stop: int
) -> dict[str, tuple[int, int]]:
    """Layer number (its text, at ``at`` in every name) -> (index of its first tensor, tensors) among the
    tensors ``begin`` to ``stop`` (one file's, in a group)."""
    size, n = len(names[0]), stop - begin
    columns = [joined[begin * size + i : stop * size : size] for i in range(*at)]
    if all(c.count(c[0]) == n for c in columns):  # one layer: no name is read
        return {names[begin][at[0] : at[1]]: (begin, n)}
    texts = [name[at[0] : at[1]] for name in names[begin:stop]]
    firsts = dict(zip(reversed(texts), range(stop - 1, begin - 1, -1), strict=True))
    return {text: (firsts[text], k) for text, k in Counter(texts).items()}


def _group_role(counter: QuantCounter, group: TensorGroup) -> tuple[Role, int]:
    """The role of a group whose role depends only on its pattern, dtype and shape (counted for every
    member); a placeholder otherwise (the caller then asks for each tensor)."""
    if not counter.by_pattern:
        return "plain", 0
    role, params, inexact = _count(counter, group.first)
    counter.inexact += inexact * len(group.tensors)
    return role, params


def _record(t: Tensor, n: int, key: tuple[int | None, str, str, Role, int], experts: int | None) -> Record:
    layer, file, component, role, params = key
    shown = experts if component == EXPERTS else None
    return Record(
        t.name,
        t.dtype,
        t.shape,
        file,
        n * t.nbytes,
        n * t.numel,
        n * params,
        role,
        component,
        layer,
        n,
        shown,
    )


def _count(counter: QuantCounter, t: Tensor) -> tuple[Role, int, int]:
    """(role, logical parameters, inexact packings) of ``t``; the counter's inexact tally is left as it was
    (the caller adds the third figure once per tensor of the pattern)."""
    before = counter.inexact
    role, params = counter.count(t)
    inexact, counter.inexact = counter.inexact - before, before
    return role, params, inexact


def has_mtp(table: TensorTable, arch: Architecture) -> bool:
    """Are layers at index >= num_hidden_layers multi-token-prediction modules? (The config says so, or
    tensors with MTP markers sit there; markers are looked for once per name pattern.)"""
    if arch.mtp_layers > 0:
        return True
    if arch.num_layers is None:
        return False
    for group in table.groups:
        if any(m in group.pattern for m in _MTP_MARKERS):
            for t in group.tensors:
                if (li := layer_index(t.name)) is not None and li[0] >= arch.num_layers:
                    return True
    return False
