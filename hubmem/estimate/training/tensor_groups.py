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
from itertools import repeat
from typing import cast

import msgspec

from hubmem.estimate.table import TensorGroup, TensorTable, tensor_table
from hubmem.estimate.training.logical import LogicalTensor, Unpacker, sibling
from hubmem.estimate.weights.names import mask_digits
from hubmem.formats.safetensors import Tensor
from hubmem.schema.architecture import Architecture


class _Group(msgspec.Struct):
    proto: LogicalTensor  # the first member, unpacked
    leaf: str | None  # the logical leaf when unpacking renames (``qweight`` -> ``weight``), else None
    names: list[str] = []
    stored: int = 0
    aux: int = 0  # auxiliary bytes of whole own-module table groups matched to this group (see _Modules)


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


class _Grouping(msgspec.Struct):
    groups: list[_Group] = []
    aux: dict[str, int] = {}  # owner -> auxiliary bytes, in first-seen order
    # ``aux`` dicts and own-module table groups (with their module length), in the order met: an own-module
    # group is kept whole, so that its bytes can go to its weights' group at once (``_fold``); ``aux`` is
    # then the dict after it
    parts: list[dict[str, int] | tuple[TensorGroup, int]] = []

    def __post_init__(self) -> None:
        self.parts.append(self.aux)

    def add_own_module(self, tgroup: TensorGroup, size: int) -> None:
        self.aux = {}
        self.parts += [(tgroup, size), self.aux]


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
    """A table group whose decision does not depend on neighbours: the first tensor decides for all. An
    auxiliary group whose first tensor belongs to its own module is kept whole (each member's bytes go to its
    module, folded later); other groups' members are appended at once."""
    first = tgroup.first
    mod, _, leaf = first.name.rpartition(".")
    if unpack.aux_owner(first, mod, leaf) == mod:
        out.add_own_module(tgroup, len(mod))
        return
    _add(first, mod, leaf, (id(tgroup),), unpack, seen, out)
    group = seen[(id(tgroup),)]
    rest = tgroup.tensors[1:]
    if group is not None and group.leaf is None:
        group.names += tgroup.names[1:]
        group.stored += sum([t.end - t.begin for t in rest])
    else:
        for t in rest:
            tmod, _, tleaf = t.name.rpartition(".")
            _add(t, tmod, tleaf, (id(tgroup),), unpack, seen, out)


def _merge(owners: list[str], nbytes: list[int], aux: dict[str, int]) -> None:
    """Each owner's bytes added to ``aux``, in order (one insert each when no owner is there twice)."""
    fresh = dict(zip(owners, nbytes, strict=True))
    if len(fresh) == len(owners) and aux.keys().isdisjoint(fresh):
        aux.update(fresh)
        return
    for owner, n in zip(owners, nbytes, strict=True):
        aux[owner] = aux.get(owner, 0) + n


def _owners(parts: list[dict[str, int] | tuple[TensorGroup, int]]) -> dict[str, int]:
    """Auxiliary bytes per owner, in first-seen order: an own-module group gives each member's bytes to its
    module (its name's first ``size`` characters; the members share their dot offsets)."""
    if len(parts) == 1:
        return cast(dict[str, int], parts[0])
    owners: dict[str, int] = {}
    for part in parts:
        if isinstance(part, dict):
            _merge(list(part), list(part.values()), owners)
        else:
            tgroup, size = part
            _merge([n[:size] for n in tgroup.names], [t.end - t.begin for t in tgroup.tensors], owners)
    return owners


def _new_group(t: Tensor, mod: str, leaf: str, unpack: Unpacker) -> _Group:
    proto = unpack.logical(t, mod, leaf)
    return _Group(proto, proto.name.rpartition(".")[2] if proto.name != t.name else None)


_UNSEEN = _Group(LogicalTensor("", None, 0, 0, ""), None)  # a marker: this key was not decided yet


class _Modules:
    """The logical groups by the pattern (digits masked) of their members' modules, and the patterns of their
    names: every member of a group has the group's patterns."""

    def __init__(self, groups: list[_Group]) -> None:
        self.names: set[str] = set()
        self.modules: dict[str, list[_Group]] = {}
        for group in groups:
            first = group.names[0]
            pattern, cut = mask_digits(first), first.rfind(".")
            self.names.add(pattern)
            self.modules.setdefault(pattern if cut < 0 else pattern[:cut], []).append(group)

    def fold(self, tgroup: TensorGroup, size: int) -> bool:
        """An own-module table group's bytes to the one logical group whose members' modules are its
        members' modules, in the same order (``...q_proj.weight_scale_inv`` to ``...q_proj.weight``); False
        when that does not hold or the bytes could go elsewhere (then ``_fold`` folds them owner by owner).

        Each owner's bytes go to the member of that name, else to the last member of that module. No member
        can have the name of an owner when no group has the owners' pattern; only one group's members have
        modules of that pattern: every owner then has a member in that group, and the group takes the bytes
        whichever member it is. The modules are compared only where their pattern has a ``#`` (elsewhere
        one pattern is one text), as columns of the names joined: a name has its group's length. (Groups of
        different sizes are not compared: the columns would differ.)"""
        module = tgroup.pattern[:size]
        found = self.modules.get(module, [])
        if module in self.names or len(found) != 1 or len(found[0].names) != len(tgroup.tensors):
            return False
        group = found[0]
        ours, theirs = "".join(tgroup.names), "".join(group.names)
        step, their_step = len(tgroup.pattern), len(group.names[0])
        if len(theirs) != their_step * len(group.names):
            return False
        for i in [i for i, c in enumerate(module) if c == "#"]:
            if ours[i::step] != theirs[i::their_step]:
                return False
        group.aux += sum([t.end - t.begin for t in tgroup.tensors])
        return True


def _fold(grouping: _Grouping, whole: bool = False) -> tuple[dict[str, int], list[LogicalTensor]]:
    """Auxiliary bytes per owning member (the member of that name, else the last member of that module),
    and the bookkeeping buffers of bytes no tensor owns. ``whole``: an own-module table group that
    :meth:`_Modules.fold` can give to a group as a whole goes there (``_Group.aux``), not member by member.

    The members of a group share their dot offsets (one pattern), so their modules are their names up to
    the first's last dot: each group's modules are read as one slice per name, and the owners are looked up
    with C-level set and dict operations."""
    parts = grouping.parts
    if whole and len(parts) > 1:
        modules = _Modules(grouping.groups)
        parts = [p for p in parts if isinstance(p, dict) or not modules.fold(*p)]
    owners = _owners(parts)
    if not owners:
        return {}, []
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
    whole: bool,
) -> tuple[_Grouping, dict[str, int], list[LogicalTensor]]:
    table = table if table is not None else tensor_table(tensors)
    grouping = _group(table, Unpacker(table.names, quant, bits, arch))
    # a name held by two files is summed once per copy in a group's stored bytes, so its auxiliary bytes
    # too (logical_groups): only member by member is that kept
    extra, orphans = _fold(grouping, whole and table.distinct)
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
    grouping, extra, orphans = _unpacked(tensors, quant, bits, arch, table, True)
    groups = [
        msgspec.structs.replace(
            g.proto,
            name=g.names[0],
            stored_bytes=g.stored + g.aux + (sum(map(extra.get, g.names, repeat(0))) if extra else 0),
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
    grouping, extra, orphans = _unpacked(tensors, quant, bits, arch, None, False)
    each = [
        msgspec.structs.replace(g.proto, name=name, stored_bytes=g.proto.stored_bytes + extra.get(name, 0))
        for g in grouping.groups
        for name in g.names
    ]
    return each + orphans
