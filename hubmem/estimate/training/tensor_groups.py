"""The logical tensors of a whole checkpoint (``logical.py`` says what one tensor is logically), grouped.

A checkpoint repeats a few hundred name patterns (digits masked) over up to 100k tensors. Tensors of one
pattern, dtype and shape unpack the same way, so the rules run once per group, and the training projection
works on groups with a member count (``LogicalTensor.count``) instead of every tensor. What depends on the
neighbours of a tensor (a ``scales`` beside a ``qweight``, an ``absmax`` beside a bnb 4-bit weight, MXFP4
``_scales`` beside ``_blocks``) is part of the group key, so grouping never changes a decision; auxiliary
tensors (scales, zeros, absmax ...) are folded into the module they belong to, tensor by tensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from hubmem.estimate.training.logical import LogicalTensor, Unpacker, sibling
from hubmem.estimate.weights.names import mask_all, module_name
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

    def __init__(self, names: set[str]) -> None:
        self.names = names
        self.absmax = any(n.endswith((".absmax", ".quant_map")) for n in names)
        self.qweight = any(n.endswith(".qweight") for n in names)
        self.scales = any(n.endswith(".scales") for n in names)
        self.blocks = any(n.endswith("_blocks") for n in names)

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
    groups: dict[tuple[object, ...], _Group] = field(default_factory=dict)
    aux: dict[str, int] = field(default_factory=dict)  # owner -> auxiliary bytes, in first-seen order


def _group(tensors: Sequence[Tensor], unpack: Unpacker) -> _Grouping:
    out = _Grouping()
    neighbours = _Neighbours(unpack.names)
    decided: dict[tuple[object, ...], bool] = {}  # key -> is auxiliary
    for t, pattern in zip(tensors, mask_all(t.name for t in tensors), strict=True):
        mod, _, leaf = t.name.rpartition(".")
        key = (pattern, t.dtype, t.shape, neighbours.key(t.name, mod, leaf))
        aux = decided.get(key)
        if aux is None:
            aux = decided[key] = unpack.aux_owner(t, mod, leaf) is not None
        if aux:
            owner = unpack.aux_owner(t, mod, leaf)
            assert owner is not None
            out.aux[owner] = out.aux.get(owner, 0) + t.nbytes
            continue
        group = out.groups.get(key)
        if group is None:
            proto = unpack.logical(t, mod, leaf)
            renamed = proto.name != t.name
            group = out.groups[key] = _Group(proto, proto.name.rpartition(".")[2] if renamed else None)
        group.names.append(sibling(mod, group.leaf) if group.leaf is not None else t.name)
        group.stored += t.nbytes
    return out


def _fold(grouping: _Grouping) -> tuple[dict[str, int], list[LogicalTensor]]:
    """Auxiliary bytes per owning member (the member of that name, else the last member of that module),
    and the bookkeeping buffers of bytes no tensor owns."""
    by_name: dict[str, str] = {}
    by_module: dict[str, str] = {}
    for group in grouping.groups.values():
        for name in group.names:
            by_name[name] = name
            by_module[module_name(name)] = name
    extra: dict[str, int] = {}
    orphans = []
    for owner, nbytes in grouping.aux.items():
        member = by_name.get(owner, by_module.get(owner))
        if member is None:
            orphans.append(LogicalTensor(owner + ".<aux>", (0,), 0, nbytes, "U8", buffer=True))
        else:
            extra[member] = extra.get(member, 0) + nbytes
    return extra, orphans


def _unpacked(
    tensors: Sequence[Tensor], quant: str | None, bits: int, arch: Architecture | None
) -> tuple[_Grouping, dict[str, int], list[LogicalTensor]]:
    grouping = _group(tensors, Unpacker({t.name for t in tensors}, quant, bits, arch))
    extra, orphans = _fold(grouping)
    return grouping, extra, orphans


def logical_groups(
    tensors: Sequence[Tensor], *, quant: str | None, bits: int = 4, arch: Architecture | None = None
) -> list[LogicalTensor]:
    """The checkpoint's logical tensors in groups (``count`` members each), orphan scales last."""
    grouping, extra, orphans = _unpacked(tensors, quant, bits, arch)
    groups = [
        replace(
            g.proto,
            name=g.names[0],
            stored_bytes=g.stored + sum(extra.get(n, 0) for n in g.names),
            count=len(g.names),
            names=tuple(g.names),
        )
        for g in grouping.groups.values()
    ]
    return groups + orphans


def logical_tensors(
    tensors: Sequence[Tensor], *, quant: str | None, bits: int = 4, arch: Architecture | None = None
) -> list[LogicalTensor]:
    """The checkpoint's logical tensors one by one: each group's members with their own stored bytes (the
    members of a group have the same shape and dtype, so the same bytes before auxiliary ones)."""
    grouping, extra, orphans = _unpacked(tensors, quant, bits, arch)
    each = [
        replace(g.proto, name=name, stored_bytes=g.proto.stored_bytes + extra.get(name, 0))
        for g in grouping.groups.values()
        for name in g.names
    ]
    return each + orphans
