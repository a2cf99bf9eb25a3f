"""The training pass appends each table group's members at once and folds auxiliary bytes with set and dict
operations (``tensor_groups._add_alike`` / ``_fold``), an own-module scale group into its weights' group as a
whole (``_Modules.fold``); it must group and fold exactly as the member-by-member code it replaced (the
oracle below, that code as it was), for any names: quantization bookkeeping beside or without its weight, a
module that is also a tensor name, hostile names (no dot, a newline, a NUL, digits only, ``#``, very long)
and any quantization family."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubmem.estimate.table import TensorGroup
from hubmem.estimate.training import tensor_groups as tg
from hubmem.estimate.training.logical import LogicalTensor, Unpacker
from hubmem.estimate.training.tensor_groups import logical_groups, logical_tensors
from hubmem.estimate.weights.names import module_name
from hubmem.formats.safetensors import Tensor


def _old_add_alike(
    tgroup: TensorGroup, unpack: Unpacker, seen: dict[tuple[object, ...], Any], out: Any
) -> None:
    first = tgroup.first
    mod, _, leaf = first.name.rpartition(".")
    tg._add(first, mod, leaf, (id(tgroup),), unpack, seen, out)
    group = seen[(id(tgroup),)]
    own_module = group is None and unpack.aux_owner(first, mod, leaf) == mod
    for t in tgroup.tensors[1:]:
        if own_module:
            owner = t.name.rpartition(".")[0]
            out.aux[owner] = out.aux.get(owner, 0) + t.nbytes
        elif group is not None and group.leaf is None:
            group.names.append(t.name)
            group.stored += t.nbytes
        else:
            tmod, _, tleaf = t.name.rpartition(".")
            tg._add(t, tmod, tleaf, (id(tgroup),), unpack, seen, out)


def _old_fold(grouping: Any, whole: bool = False) -> tuple[dict[str, int], list[LogicalTensor]]:
    owners = grouping.aux
    same = {owner: owner for owner in owners}
    named: set[str] = set()
    by_module: dict[str, str] = {}
    for group in grouping.groups:
        for name in group.names:
            if name in owners:
                named.add(name)
            module = same.get(module_name(name))
            if module is not None:
                by_module[module] = name
    extra: dict[str, int] = {}
    orphans = []
    for owner, nbytes in owners.items():
        member = owner if owner in named else by_module.get(owner)
        if member is None:
            orphans.append(LogicalTensor(owner + ".<aux>", (0,), 0, nbytes, "U8", buffer=True))
        else:
            extra[member] = extra.get(member, 0) + nbytes
    return extra, orphans


def _both(tensors: list[Tensor], quant: str | None, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """(groups, tensors) by the code as it is, then by the oracle."""
    out = []
    for old in (False, True):
        with monkeypatch.context() as m:
            if old:
                m.setattr(tg, "_add_alike", _old_add_alike)
                m.setattr(tg, "_fold", _old_fold)
            out.append((logical_groups(tensors, quant=quant), logical_tensors(tensors, quant=quant)))
    return out


_LEAF = st.sampled_from(
    ["weight", "bias", "qweight", "qzeros", "scales", "biases", "g_idx", "absmax", "quant_map", "SCB",
     "weight_scale_inv", "weight_scale", "input_scale", "w_blocks", "w_scales", "weight_packed", "", "\n",
     "\0", "7", "x" * 200, "quant_state.bitsandbytes__nf4"]
)  # fmt: skip
_MODULE = st.lists(
    st.sampled_from(["model", "layers", "0", "1", "12", "mlp", "q_proj", "a\nb", "\0"]), max_size=4
)
_NAME = st.tuples(_MODULE, st.lists(_LEAF, min_size=1, max_size=2)).map(lambda p: ".".join(p[0] + p[1]))
_TENSOR = st.tuples(
    _NAME, st.sampled_from(["BF16", "U8", "I32", "F32", "F8_E8M0", "U32"]), st.sampled_from([1, 2])
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_TENSOR, max_size=30),
    st.sampled_from([None, "gptq", "awq", "bnb4", "mxfp4", "mlx", "nvfp4", "compressed-tensors"]),
)
def test_bulk_grouping_folds_as_member_by_member(spec: list[tuple[str, str, int]], quant: str | None) -> None:
    with pytest.MonkeyPatch.context() as mp:
        new, old = _both([Tensor(n, d, (4, rows), 0, 4 * rows * 4, "f") for n, d, rows in spec], quant, mp)
    assert new == old


def test_every_path_of_the_bulk_code_is_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain group, an own-module auxiliary group (fresh owners, then owners seen before), renamed
    members, an orphan scale and an owner that is also a tensor's name, all as the oracle folds them."""
    tensors = [Tensor(f"m.layers.{i}.q.weight", "BF16", (4, 4), 0, 32) for i in range(12)]
    tensors += [Tensor(f"m.layers.{i}.q.weight_scale_inv", "F32", (1, 1), 0, 4) for i in range(13)]
    tensors += [Tensor(f"m.layers.{i}.q.input_scale", "F32", (1,), 0, 4) for i in range(12)]
    tensors += [Tensor(f"m.layers.{i}.k.qweight", "I32", (2, 4), 0, 32) for i in range(3)]
    tensors += [Tensor(f"m.layers.{i}.k.qzeros", "I32", (1, 4), 0, 16) for i in range(3)]
    tensors += [Tensor("m.layers.1.q", "BF16", (4,), 0, 8)]
    new, old = _both(tensors, "gptq", monkeypatch)
    assert new == old
    groups = new[0]
    assert any(g.name == "m.layers.12.q.<aux>" for g in groups)  # the orphan
    assert sum(g.stored_bytes for g in groups) == sum(t.nbytes for t in tensors)


_SEGMENT = st.sampled_from(["model", "layers", "q_proj", "0", "12", "#", "a\nb", "\0", "", "x" * 200])
_NUMBER = st.sampled_from(["0", "1", "7", "#", "\u00b2", "\u0663"])  # one character: the same pattern often


@st.composite
def _scaled(draw: st.DrawFn) -> list[Tensor]:
    """Weights (of one or two kinds) and own-module scales of modules alike (one pattern): in the same order
    or not, some missing, twice or another, beside random tensors (an owner's name among them)."""
    segments = [draw(st.lists(_SEGMENT, max_size=2)) for _ in range(3)]
    numbers = draw(st.lists(st.tuples(_NUMBER, _NUMBER), min_size=1, max_size=6, unique=True))
    modules = [".".join([*segments[0], a, *segments[1], b + "0", *segments[2]]) for a, b in numbers]
    # a module of the first's pattern that is none of them
    other = ".".join([*segments[0], numbers[0][0], *segments[1], numbers[0][1] + "1", *segments[2]])
    changed = [[other, *modules[1:]], [*modules[:-1], other], modules[::-1], sorted(modules), modules[1:]]
    reorder = st.sampled_from([modules, modules + modules[:1], *changed])
    tensors = []
    for leaf, dtype, file in ((draw(st.sampled_from(["weight", "qweight", "bias"])), "F8_E4M3", "f"),
                              (draw(st.sampled_from(["weight_scale_inv", "SCB"]) | _LEAF), "F32", "g"),
                              (draw(st.sampled_from(["bias", "w1", "w2", ""])), "BF16", "h")):  # fmt: skip
        if file == "h" and draw(st.booleans()):
            continue
        tensors += [Tensor(f"{m}.{leaf}", dtype, (1, 1), 0, 4 + i, file) for i, m in enumerate(draw(reorder))]
    others = [Tensor(n, d, (4, r), 0, 16 * r, "h") for n, d, r in draw(st.lists(_TENSOR, max_size=3))]
    named = [Tensor(modules[0], "BF16", (2,), 0, 4, "h")] if draw(st.booleans()) else []
    tensors += others + named
    return draw(st.permutations(tensors)) if draw(st.booleans()) else tensors


@settings(max_examples=400, deadline=None)
@given(_scaled(), st.sampled_from([None, "fp8", "gptq", "mlx", "bnb8"]))
def test_whole_scale_groups_fold_as_member_by_member(tensors: list[Tensor], quant: str | None) -> None:
    with pytest.MonkeyPatch.context() as mp:
        new, old = _both(tensors, quant, mp)
    assert new == old


def test_scale_groups_are_folded_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """The case the whole-group fold is for (fp8 scales beside their weights, every layer): it is taken."""
    tensors = [Tensor(f"m.layers.{i}.q.weight", "F8_E4M3", (4, 4), 0, 16) for i in range(10, 30)]
    tensors += [Tensor(f"m.layers.{i}.q.weight_scale_inv", "F32", (1, 1), 0, 4) for i in range(10, 30)]
    folded = []
    fold = tg._Modules.fold
    monkeypatch.setattr(tg._Modules, "fold", lambda self, *a: folded.append(fold(self, *a)) or folded[-1])
    (group,) = logical_groups(tensors, quant="fp8")
    assert folded == [True]
    assert group.stored_bytes == 20 * (16 + 4)
