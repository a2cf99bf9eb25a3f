"""N from the safetensors-metadata route: the file size less the data, checked against a lower bound of the
header's compact JSON (its names, and the shortest entry text around each) instead of serialising it again.
The bound must never exceed the real compact length (a real file is never refused), and a size that leaves
less than the bound is refused."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hubmem.fetch.route import header_length
from hubmem.formats.safetensors import MAX_HEADER_LENGTH

_DTYPES = ["BOOL", "U8", "I8", "F8_E4M3", "F16", "BF16", "F32", "I64"]
_ENTRY = st.tuples(
    st.text(min_size=1, max_size=30),
    st.sampled_from(_DTYPES),
    st.lists(st.integers(0, 70_000), max_size=4),
    st.integers(0, 10**6),
)


def _header(entries: list[tuple[str, str, list[int], int]]) -> dict[str, Any]:
    header: dict[str, Any] = {}
    end = 0
    for name, dtype, shape, nbytes in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [end, end + nbytes]}
        end += nbytes
    return header


@settings(max_examples=300, deadline=None)
@given(st.lists(_ENTRY, min_size=1, max_size=12, unique_by=lambda e: e[0]), st.integers(0, 64))
def test_a_real_file_is_never_refused(entries: list[tuple[str, str, list[int], int]], pad: int) -> None:
    header = _header(entries)
    compact = len(json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode())
    data = max(v["data_offsets"][1] for v in header.values())
    n = compact + pad  # a writer may pad the header with spaces
    assert header_length(header, list(header), 8 + n + data) == n


def test_sizes_that_leave_too_little_for_the_names_are_refused() -> None:
    header = _header([("model.layers.0.mlp.down_proj.weight", "BF16", [4, 4], 32)])
    compact = len(json.dumps(header, separators=(",", ":")))
    assert header_length(header, list(header), 8 + compact + 32) == compact
    assert header_length(header, list(header), 8 + 40 + 32) is None  # 40 bytes cannot hold the name
    assert header_length(header, list(header), 8 + MAX_HEADER_LENGTH + 1 + 32) is None
    assert header_length(header, ["another.name"], 8 + compact + 32) is None
