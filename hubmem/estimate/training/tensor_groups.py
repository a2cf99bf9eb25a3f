"""The logical tensors of a whole checkpoint (``logical.py`` says what one tensor is logically), grouped.

A checkpoint repeats a few hundred name patterns (digits masked) over up to 100k tensors. Tensors of one
pattern, dtype and shape unpack the same way, so the rules run once per group, and the training projection
works on groups with a member count (``LogicalTensor.count``) instead of every tensor. What depends on the
neighbours of a tensor (a ``scales`` beside a ``qweight``, an ``absmax`` beside a bnb 4-bit weight, MXFP4
``_scales`` beside ``_blocks``) is part of the group key, so grouping never changes a decision; auxiliary
tensors (scales, zeros, absmax ...) are folded into the module they belong to, tensor by tensor.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass, field, replace
from itertools import repeat
from typing import cast

from hubmem.estimate.table import TensorGroup, TensorTable, tensor_table
from hubmem.estimate.training.logical import LogicalTensor, Unpacker, sibling
from hubmem.formats.safetensors import Tensor
from hubmem.schema.architecture import Architecture


@dataclass
class _Group:
    proto: LogicalTensor  # the first member, unpacked
    leaf: str | None  # the logical leaf when unpacking renames (``qweight`` -> ``weight``), else None
    names: list[str] = field(default_factory=list)
    stored: int = 0


class _Neighbours:
    """Which neighbour-dependent rules can apply at all in this checkpoint (most checkpoints: none)."""

    def __init__(self, names: Set[str], patterns: Set[str]) -> None:
        self.names = names
        self.absmax = any(p.endswith((".absmax", ".quant_map")) for p in patterns)
        self.qweight = any(p.endswith(".qweight") for p in patterns)
        self.scales = any(p.endswith(".scales") for p in patterns)
        self.blocks = any(p.endswith("_blocks") for p in patterns)
        self.any = self.absmax or self.qweight or self.scales or self.blocks

    def key(self, name: str, mod: str, leaf: str) -> tuple[bool, ...]:
        n = self.names
        return (
            self.absmax and leaf == "weight" and (name + ".absmax" in n or name + ".quant_map" in n),
            self.qweight and leaf == "scales" and sibling(mod, "qweight") in n,
            self.scales and leaf == "biases" and sibling(mod, "scales") in n,
            self.blocks and leaf.endswith("_scales") and sibling(mod, leaf[:-7] + "_blocks") in n,
        )


@dataclass
class _Grouping:
    groups: list[_Group] = field(default_factory=list)
    aux: dict[str, int] = field(default_factory=dict)  # owner -> auxiliary bytes, in first-seen order


def _group(table: TensorTable, unpack: Unpacker) -> _Grouping:
    out = _Grouping()
    neighbours = _Neighbours(unpack.names, table.patterns)
    seen: dict[tuple[object, ...], _Group | None] = {}  # key -> its group, None for auxiliary tensors
    for tgroup in table.groups:
        if not neighbours.any:  # one decision for the whole table group
            _add_alike(tgroup, unpack, seen, out)
            continue
        for t in tgroup.tensors:
            mod, _, leaf = t.name.rpartition(".")
            _add(t, mod, leaf, (id(tgroup), neighbours.key(t.name, mod, leaf)), unpack, seen, out)
    out.groups = [g for g in seen.values() if g is not None]
    return out


def _add(
    t: Tensor,
    mod: str,
    leaf: str,
    key: tuple[object, ...],
    unpack: Unpacker,
    seen: dict[tuple[object, ...], _Group | None],
    out: _Grouping,
) -> None:
    """One tensor into its logical group, or its bytes to the module it is bookkeeping for."""
    group = seen.get(key, _UNSEEN)
    if group is _UNSEEN:
        aux = unpack.aux_owner(t, mod, leaf) is not None
        group = seen[key] = None if aux else _new_group(t, mod, leaf, unpack)
    if group is None:
        owner = unpack.aux_owner(t, mod, leaf)
        assert owner is not None
        out.aux[owner] = out.aux.get(owner, 0) + t.nbytes
    else:
        group.names.append(sibling(mod, group.leaf) if group.leaf is not None else t.name)
        group.stored += t.nbytes


def _add_alike(
    tgroup: TensorGroup, unpack: Unpacker, seen: dict[tuple[object, ...], _Group | None], out: _Grouping
) -> None:
    """A table group whose decision does not depend on neighbours: the first tensor decides for all; an
    auxiliary group whose first tensor belongs to its own module gives every member's bytes to its module.

    The members share the first's dot offsets (one pattern), so a member's module is its name up to the
    first's module length, and whole groups are appended at once."""
    first = tgroup.first
    mod, _, leaf = first.name.rpartition(".")
    _add(first, mod, leaf, (id(tgroup),), unpack, seen, out)
    group = seen[(id(tgroup),)]
    rest = tgroup.tensors[1:]
    if group is None and unpack.aux_owner(first, mod, leaf) == mod:
        _add_own_module(tgroup.names[1:], [t.end - t.begin for t in rest], len(mod), out.aux)
    elif group is not None and group.leaf is None:
        group.names += tgroup.names[1:]
        group.stored += sum([t.end - t.begin for t in rest])
    else:
        for t in rest:
            tmod, _, tleaf = t.name.rpartition(".")
            _add(t, tmod, tleaf, (id(tgroup),), unpack, seen, out)


def _add_own_module(names: list[str], nbytes: list[int], size: int, aux: dict[str, int]) -> None:
    """Each member's bytes to its module (its name's first ``size`` characters), in member order."""
    owners = [name[:size] for name in names]
    fresh = dict(zip(owners, nbytes, strict=True))
    if len(fresh) == len(owners) and aux.keys().isdisjoint(fresh):  # no module twice: one insert each
        aux.update(fresh)
        return
    for owner, n in zip(owners, nbytes, strict=True):
        aux[owner] = aux.get(owner, 0) + n


def _new_group(t: Tensor, mod: str, leaf: str, unpack: Unpacker) -> _Group:
    proto = unpack.logical(t, mod, leaf)
    return _Group(proto, proto.name.rpartition(".")[2] if proto.name != t.name else None)


_UNSEEN = _Group(LogicalTensor("", None, 0, 0, ""), None)  # a marker: this key was not decided yet


def _fold(grouping: _Grouping) -> tuple[dict[str, int], list[LogicalTensor]]:
    """Auxiliary bytes per owning member (the member of that name, else the last member of that module),
    and the bookkeeping buffers of bytes no tensor owns.

    The members of a group share their dot offsets (one pattern), so their modules are their names up to
    the first's last dot: each group's modules are read as one slice per name, and the owners are looked up
    with C-level set and dict operations."""
    owners = grouping.aux
    named: set[str] = set()
    by_module: dict[str, str] = {}  # module -> its last member (every module: only owners are asked for)
    for group in grouping.groups:
        names = group.names
        cut = names[0].rfind(".")
        by_module.update(zip(names if cut < 0 else [n[:cut] for n in names], names, strict=True))
        named.update(owners.keys() & names)
    if not named:
        members = list(map(by_module.get, owners))
        if None not in members:  # every owner has a member, each its own (a member has one module)
            return dict(zip(cast(list[str], members), owners.values(), strict=True)), []
    extra: dict[str, int] = {}
    orphans = []
    for owner, nbytes in owners.items():
        member = owner if owner in named else by_module.get(owner)
        if member is None:
            orphans.append(LogicalTensor(owner + ".<aux>", (0,), 0, nbytes, "U8", buffer=True))
        else:
            extra[member] = extra.get(member, 0) + nbytes
    return extra, orphans


def _unpacked(
    tensors: Sequence[Tensor],
    quant: str | None,
    bits: int,
    arch: Architecture | None,
    table: TensorTable | None,
) -> tuple[_Grouping, dict[str, int], list[LogicalTensor]]:
    table = table if table is not None else tensor_table(tensors)
    grouping = _group(table, Unpacker(table.names, quant, bits, arch))
    extra, orphans = _fold(grouping)
    return grouping, extra, orphans


def logical_groups(
    tensors: Sequence[Tensor],
    *,
    quant: str | None,
    bits: int = 4,
    arch: Architecture | None = None,
    table: TensorTable | None = None,
) -> list[LogicalTensor]:
    """The checkpoint's logical tensors in groups (``count`` members each), orphan scales last."""
    grouping, extra, orphans = _unpacked(tensors, quant, bits, arch, table)
    groups = [
        replace(
            g.proto,
            name=g.names[0],
            stored_bytes=g.stored + sum(map(extra.get, g.names, repeat(0))) if extra else g.stored,
            count=len(g.names),
            names=tuple(g.names),
        )
        for g in grouping.groups
    ]
    return groups + orphans


def logical_tensors(
    tensors: Sequence[Tensor], *, quant: str | None, bits: int = 4, arch: Architecture | None = None
) -> list[LogicalTensor]:
    """The checkpoint's logical tensors one by one: each group's members with their own stored bytes (the
    members of a group have the same shape and dtype, so the same bytes before auxiliary ones)."""
    grouping, extra, orphans = _unpacked(tensors, quant, bits, arch, None)
    each = [
        replace(g.proto, name=name, stored_bytes=g.proto.stored_bytes + extra.get(name, 0))
        for g in grouping.groups
        for name in g.names
    ]
    return each + orphans
