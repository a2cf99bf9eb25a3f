"""The weights records read each group's layer and expert numbers by columns of the joined names
(``records._tally_columns``) instead of splitting every name; they must count exactly as the per-tensor
reading (the oracle below) for any names: numbers with leading zeros, a literal ``#`` (masked like a
digit), non-ASCII digits, ``expert_`` prefixes, no dot, a newline, a NUL, very long names, and files whose
tensors are not contiguous. A number that is no index (not 1-9 ASCII digits: ``#``, ``²``, ``٣``) gives no
layer and no expert, as ``Classifier.locate`` reads it, never an error. The names are masked in one
translate of them all (``mask_all``), also held to the one-by-one masking."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubmem.estimate.table import TensorGroup, tensor_table
from hubmem.estimate.weights.components import EXPERTS, Classifier
from hubmem.estimate.weights.names import mask_all, mask_digits
from hubmem.estimate.weights.quant_roles import QuantCounter
from hubmem.estimate.weights.records import _expert_segment, _tally, _tally_columns
from hubmem.formats.safetensors import Tensor


def _oracle(
    group: TensorGroup, segment: int | None, expert: int | None, layer: int | None
) -> tuple[dict[Any, list[Any]], int]:
    """The per-tensor tally (roles by pattern: a plain checkpoint); a number that is no index is skipped."""
    cut = max(segment or 0, expert or 0) + 1
    counts: dict[Any, list[Any]] = {}
    experts, default = 0, layer
    for t in group.tensors:
        if segment is not None or expert is not None:
            parts = t.name.split(".", cut)
            if segment is not None:
                text = parts[segment]
                layer = int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else default
            if expert is not None:
                number = parts[expert].removeprefix("expert_")
                if number.isascii() and number.isdigit() and len(number) <= 9:
                    experts = max(experts, 1 + int(number))
        found = counts.get((layer, t.file, "plain", t.numel))
        if found is None:
            counts[(layer, t.file, "plain", t.numel)] = [t, 1]
        else:
            found[1] += 1
    return counts, experts


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        return _described(fn(*args))
    except ValueError as exc:
        return ("raised", str(exc))


def _described(tally: tuple[dict[Any, list[Any]], int]) -> Any:
    """A tally with each record's first tensor by identity."""
    counts, experts = tally
    return [(k, id(v[0]), v[1]) for k, v in counts.items()], experts


def _compare(tensors: list[Tensor]) -> tuple[int, list[Any]]:
    """Each group's tally against the oracle; how many groups the columns read (not handed back), and
    every group's outcome."""
    classify = Classifier(num_layers=4)
    read, outcomes = 0, []
    for group in tensor_table(tensors).groups:
        first = group.first
        base, segment = classify.pattern(first.name, first.shape, group.pattern)
        expert = _expert_segment(first.name) if base.component == EXPERTS else None
        counter = QuantCounter(None, tensors)
        got = _outcome(_tally, group, segment, expert, base.layer, counter)
        expected = _outcome(_oracle, group, segment, expert, base.layer)
        assert got == expected
        columns = _tally_columns(group, segment, expert, base.layer, "plain", first.numel)
        if columns is not None:  # read by columns whatever the group's size (_tally: large groups only)
            assert _described(columns) == expected
            read += 1
        outcomes.append(got)
    return read, outcomes


_NUMBER = st.sampled_from(["0", "1", "7", "07", "12", "99", "123", "#", "#1", "٣", "1٣", "²", "expert_3"])
_PIECE = st.sampled_from(
    ["model", "layers", "h", "mlp", "experts", "w1", "weight", "", "\n", "\0", "x" * 300]
)
_NAME = st.lists(st.one_of(_NUMBER, _PIECE), min_size=1, max_size=7).map(".".join)
_STACK = st.tuples(
    st.sampled_from(["model.layers.", "h.", "layers."]),
    _NUMBER,
    st.sampled_from([".mlp.experts.", ".experts.", ".attn."]),
    _NUMBER,
    st.sampled_from([".w1.weight", ".weight", "_x.bias"]),
).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.one_of(_STACK, _NAME), st.sampled_from(["a", "b", "c"])), max_size=40))
def test_columns_count_as_each_tensor(spec: list[tuple[str, str]]) -> None:
    tensors = [Tensor(name, "F32", (2, 2), 0, 16, file) for name, file in spec]
    _compare(tensors)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 12), st.integers(0, 130), st.sampled_from(["a", "b", "c"]), st.booleans()),
        min_size=1,
        max_size=60,
    )
)
def test_columns_count_stacked_experts_as_each_tensor(spec: list[tuple[int, int, str, bool]]) -> None:
    """One template, layers and experts of every width, files in any order, ``expert_`` or plain."""
    tensors = [
        Tensor(
            f"model.layers.{layer}.mlp.experts.{'expert_' if prefix else ''}{x}.w1", "F32", (2, 2), 0, 16, f
        )
        for layer, x, f, prefix in spec
    ]
    _compare(tensors)


def test_the_columns_read_the_usual_layouts() -> None:
    """Shards of one or several layers, experts up to 3 digits, a file split in two runs (handed back to
    the per-tensor reading), all as the oracle counts them."""
    tensors = []
    for layer in range(12):
        file = f"model-{layer // 3}.safetensors"  # three layers per shard
        for x in range(130):
            tensors.append(
                Tensor(f"model.layers.{layer}.mlp.experts.{x}.w1.weight", "F32", (2, 2), 0, 16, file)
            )
        tensors.append(
            Tensor(f"model.layers.{layer}.mlp.experts.expert_{layer}.w2", "F32", (2, 2), 0, 16, file)
        )
    tensors.append(
        Tensor("model.layers.1.mlp.experts.5.w1.weight", "F32", (2, 2), 0, 16, "model-0.safetensors")
    )
    read, outcomes = _compare(tensors)
    assert read >= 4 and read < len(outcomes)


@pytest.mark.parametrize(
    "names",
    [
        ["model.layers.5.x.weight", "model.layers.#.x.weight"],  # '#' masks like a digit
        ["model.layers.5.mlp.experts.1.w", "model.layers.5.mlp.experts.#.w"],
        ["model.layers.5.mlp.experts.²1.w"],  # isdigit, but int() refuses it
        [
            "model.layers.1234567890.self_attn.q_proj.weight",
            "model.layers.1234567891.self_attn.q_proj.weight",
        ],
    ],
)
def test_numbers_that_are_no_index_give_no_layer(names: list[str]) -> None:
    """They used to raise ValueError out of the report (an internal error): now read as no layer or
    expert, by the tensor and by the columns alike."""
    _, outcomes = _compare([Tensor(n, "F32", (2, 2), 0, 16, "a") for n in names])
    assert outcomes and all(o[0] != "raised" for o in outcomes)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_NAME, st.text(max_size=8)), max_size=12))
def test_names_are_masked_at_once_as_one_by_one(names: list[str]) -> None:
    """``mask_all`` masks the joined names in one translate; a name holding a newline is seen by the split
    and then every name is masked alone."""
    assert mask_all(names) == [mask_digits(n) for n in names]
