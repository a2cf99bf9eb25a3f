"""The tensor table tries each tensor against the last group of its name pattern before it looks the whole
(pattern, dtype, shape) key up (``table.tensor_table``); it must group exactly as the plain key lookup (the
oracle below): the same groups, in the order of their first tensors, with the same members in header order,
for any names (no dot, digits only, ``#``, a newline, a NUL, very long) and one pattern's tensors of several
dtypes and shapes, interleaved."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from hubmem.estimate.table import tensor_table
from hubmem.estimate.weights.names import mask_digits
from hubmem.formats.safetensors import Tensor


def _oracle(tensors: Sequence[Tensor]) -> list[tuple[str, list[int]]]:
    groups: dict[tuple[str, str, tuple[int, ...]], tuple[str, list[int]]] = {}
    for t in tensors:
        key = (mask_digits(t.name), t.dtype, t.shape)
        groups.setdefault(key, (key[0], []))[1].append(id(t))
    return list(groups.values())


def _table(tensors: Sequence[Tensor]) -> list[tuple[str, list[int]]]:
    table = tensor_table(tensors)
    assert table.count == len(tensors)
    return [(g.pattern, [id(t) for t in g.tensors]) for g in table.groups]


_SEGMENT = st.sampled_from(["model", "layers", "0", "7", "12", "#", "a\nb", "\0", "", "x" * 300, "\u0663"])
_NAME = st.lists(_SEGMENT, min_size=1, max_size=4).map(".".join)
_TENSOR = st.tuples(_NAME, st.sampled_from(["BF16", "F32"]), st.sampled_from([(4,), (2, 2), (4,), ()]))


@settings(max_examples=300, deadline=None)
@given(st.lists(_TENSOR, max_size=40))
def test_table_groups_as_the_key_lookup(spec: list[tuple[str, str, tuple[int, ...]]]) -> None:
    # shapes equal but not the same object, as headers give them
    tensors = [Tensor(n, d, tuple(list(s)), 0, 0, "f") for n, d, s in spec]
    assert _table(tensors) == _oracle(tensors)


def test_one_pattern_of_two_shapes_interleaved() -> None:
    """Layer by layer a pattern alternates between two shapes (and a dtype): three groups, each in order."""
    tensors = []
    for i in range(10, 16):
        tensors.append(Tensor(f"m.{i}.w", "BF16", (4, 4), 0, 32))
        tensors.append(
            Tensor(f"m.{i}.w", "F32", (4, 4), 0, 64) if i % 3 else Tensor(f"m.{i}.w", "BF16", (2,), 0, 4)
        )
    assert _table(tensors) == _oracle(tensors)
    assert [len(g[1]) for g in _table(tensors)] == [6, 4, 2]


_NAMES = st.lists(st.tuples(_NAME, st.sampled_from(["BF16", "F32"])), max_size=30)


@settings(max_examples=400, deadline=None)
@given(_NAMES, st.lists(_NAME, max_size=10), st.booleans(), st.sampled_from([0, 2, 1024]))
def test_names_and_distinct_as_a_set(
    spec: list[tuple[str, str]], asked: list[str], hashed: bool, misses: int
) -> None:
    """``distinct`` (no name twice) and the lazily hashed names answer as a set of every name would: names
    in and out of order, held twice in one group or in two (another dtype), asked for before the set is
    built or after (hashed at once, or after a few names of no pattern); the questions include names absent
    whose pattern is present."""
    tensors = [Tensor(n, d, (1,), 0, 0, "f") for n, d in spec]
    table = tensor_table(tensors)
    table.names.MISSES = misses
    names = {t.name for t in tensors}
    if hashed:
        assert len(table.names) == len(names)
    assert table.distinct == (len(names) == len(tensors))
    for name in [*asked, *(n + "1" for n in asked), *(n[:-1] for n in names)]:
        assert (name in table.names) == (name in names)
    assert set(table.names) == names


def test_a_name_twice_is_found_in_order_and_across_groups() -> None:
    ordered = [Tensor(f"m.{i}.w", "BF16", (1,), 0, 0) for i in range(10, 20)]
    assert tensor_table(ordered).distinct
    assert not tensor_table([*ordered, ordered[3]]).distinct  # one group, out of order
    assert not tensor_table([*ordered, Tensor("m.13.w", "F32", (1,), 0, 0)]).distinct  # two groups
    assert not tensor_table([ordered[0], ordered[0], ordered[1]]).distinct  # in order, not strictly
