"""The checkpoint's tensors grouped by name pattern, dtype and shape: the one pass every estimator reads.

A checkpoint repeats a few hundred name patterns (digits masked: ``model.layers.##.mlp.experts.###.w1``)
over up to 100k tensors (every expert of every layer). The weights estimate (components, quantization
roles) and the training projection (logical shapes) decide once per group; per tensor only what differs
between members is read (the layer number, the expert index, the file). Building the table is one
``translate`` over all names joined and one dictionary insert per tensor.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence, Set
from functools import cached_property
from itertools import chain, islice
from operator import lt

import msgspec

from hubmem.estimate.weights.names import mask_all, mask_digits
from hubmem.formats.safetensors import Tensor


class TensorGroup(msgspec.Struct):
    """Tensors of one name pattern (digits masked), dtype and shape, in header order."""

    pattern: str
    tensors: list[Tensor] = []
    _names: list[str] | None = None  # the members' names, listed on first use (:attr:`names`)

    @property
    def first(self) -> Tensor:
        return self.tensors[0]

    @property
    def names(self) -> list[str]:
        """The members' names, in order (listed once: the weights and the training pass both read them).
        They have one length and their dots at the same offsets (only digits are masked)."""
        if self._names is None:
            self._names = [t.name for t in self.tensors]
        return self._names


class Names(Set[str]):
    """Every tensor name of a table (a name held by two files once), hashed when first needed: a name whose
    pattern no group has is answered without them (the unpacking rules look for ``.qweight``, ``.absmax``
    ... beside tensors of a checkpoint that has none). After ``MISSES`` such answers they are hashed anyway:
    a set answers a look-up per tensor faster than masking the name."""

    MISSES = 1024

    def __init__(self, groups: tuple[TensorGroup, ...]) -> None:
        self._groups = groups
        self._patterns: set[str] | None = None
        self._all: frozenset[str] | None = None
        self._misses = 0

    @property
    def hashed(self) -> frozenset[str] | None:
        """The names as a set if they were needed as one, else None."""
        return self._all

    def _set(self) -> frozenset[str]:
        if self._all is None:
            self._all = frozenset(chain.from_iterable(g.names for g in self._groups))
        return self._all

    def __contains__(self, name: object) -> bool:
        if self._all is None and isinstance(name, str) and self._misses < self.MISSES:
            if self._patterns is None:
                self._patterns = {g.pattern for g in self._groups}
            if mask_digits(name) not in self._patterns:
                self._misses += 1
                return False
        return name in self._set()

    def __iter__(self) -> Iterator[str]:
        return iter(self._set())

    def __len__(self) -> int:
        return len(self._set())


class TensorTable(msgspec.Struct, frozen=True, dict=True):  # dict: the cached properties below
    groups: tuple[TensorGroup, ...]  # in the order of each group's first tensor
    count: int  # tensors

    @cached_property
    def names(self) -> Names:
        """Every tensor name (a name held by two files once)."""
        return Names(self.groups)

    @cached_property
    def distinct(self) -> bool:
        """No name is held twice (by two files).

        A name's copies share its pattern; a group's names in strictly increasing order (as headers list
        them) are distinct, so only groups out of order, or of a pattern with other groups, are hashed."""
        hashed = self.names.hashed
        if hashed is not None:
            return len(hashed) == self.count
        groups = Counter(g.pattern for g in self.groups)
        rest = [
            g.names
            for g in self.groups
            if groups[g.pattern] > 1 or not all(map(lt, g.names, islice(g.names, 1, None)))
        ]
        return len(set(chain.from_iterable(rest))) == sum(map(len, rest))

    @property
    def patterns(self) -> set[str]:
        return {g.pattern for g in self.groups}


CHUNK = 8192  # names masked at once: the masked copies of 500k names would hold ~40 MB at a time
_NONE: tuple[None, None, list[Tensor]] = (None, None, [])


def tensor_table(tensors: Sequence[Tensor]) -> TensorTable:
    """Group ``tensors`` (see :class:`TensorGroup`).

    A pattern's tensors nearly always have one dtype and shape, so each tensor is first tried against the
    last group of its pattern (a string key, and two comparisons): building and hashing a (pattern, dtype,
    shape) key for every tensor took twice as long (a tuple does not keep its hash)."""
    groups: dict[tuple[str, str, tuple[int, ...]], TensorGroup] = {}
    last: dict[str, tuple[str | None, tuple[int, ...] | None, list[Tensor]]] = {}  # pattern -> its last group
    for start in range(0, len(tensors), CHUNK):
        chunk = tensors[start : start + CHUNK]
        for t, pattern in zip(chunk, mask_all([t.name for t in chunk]), strict=True):
            dtype, shape, members = last.get(pattern, _NONE)
            if shape == t.shape and dtype == t.dtype:
                members.append(t)
                continue
            group = groups.get((pattern, t.dtype, t.shape))
            if group is None:
                group = groups[(pattern, t.dtype, t.shape)] = TensorGroup(pattern)
            last[pattern] = (t.dtype, t.shape, group.tensors)
            group.tensors.append(t)
    return TensorTable(tuple(groups.values()), len(tensors))
