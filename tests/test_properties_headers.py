"""Property tests (issue #10) of the two header readers on hostile bytes: the safetensors header parser
(``decode_header`` / ``parse_tensors``, its fast path against its checked path) and the GGUF reader
(whole against fed in pieces, every count and length a lie). Examples: scripts/fuzz/strategies.py; the
profile (derandomized, no deadline): tests/conftest.py; the long run of the same targets: scripts/fuzz."""

from __future__ import annotations

import json
import math
import re
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubmem.errors import CorruptHeaderError
from hubmem.fakehub.fixtures.layout import default_fixtures_dir
from hubmem.fakehub.fixtures.store import FixtureStore
from hubmem.formats.dtypes import DTYPE_BITS
from hubmem.formats.gguf.parser import GGUFParser, parse_gguf
from hubmem.formats.safetensors import (
    SafetensorsHeader,
    Tensor,
    _entry_tensor,
    _well_formed,
    decode_header,
    parse_header,
    parse_tensors,
    read_header_length,
)
from hubmem.formats.safetensors_load import _typed_header, load_header
from scripts.fuzz.strategies import header_bytes, header_entries, json_values, tensor_names

MAX_MESSAGE = 1000  # a message names hostile values abbreviated (json_reader.brief), never whole


def one_line(exc: Exception) -> None:
    assert "\n" not in str(exc) and len(str(exc)) < MAX_MESSAGE, str(exc)[:300]


def assert_tiles(tensors: list[Tensor], header: dict[str, Any], data_size: int | None) -> None:
    """Tensors sorted by offset, each its dtype x shape in bytes, tiling [0, end) without holes."""
    assert sorted(t.name for t in tensors) == sorted(k for k in header if k != "__metadata__")
    cursor = 0
    for t in tensors:
        assert t.begin == cursor and t.end >= t.begin
        assert t.nbytes * 8 == t.numel * DTYPE_BITS[t.dtype]
        cursor = t.end
    assert data_size is None or cursor == data_size


@settings(max_examples=300)
@given(raw=header_bytes(), data_size=st.none() | st.integers(0, 2**20))
def test_a_header_is_tensors_that_tile_the_buffer_or_corrupt(raw: bytes, data_size: int | None) -> None:
    try:
        n = read_header_length(struct.pack("<Q", len(raw)))
        header = decode_header(raw[:n])
        tensors = parse_tensors(header, data_size=data_size)
    except CorruptHeaderError as exc:
        one_line(exc)
        return
    assert_tiles(tensors, header, data_size)


@settings(max_examples=150)
@given(header=header_entries())
def test_a_contiguous_header_is_read_whole(header: dict[str, Any]) -> None:
    """What a writer lays out (some fields perturbed) either parses into its own tensors or is refused."""
    try:
        tensors = parse_tensors(header)
    except CorruptHeaderError as exc:
        one_line(exc)
        return
    assert_tiles(tensors, header, None)


ENTRY_FIELD = st.one_of(json_values(1), st.integers(0, 2**64 + 1), st.lists(st.integers(0, 70), max_size=4))


@st.composite
def entries(draw: st.DrawFn) -> Any:
    """One header entry, mostly of the right shape, with any field possibly anything."""
    dtype = draw(st.sampled_from([*DTYPE_BITS, "F8", "bf16", "float16", "X"]) | json_values(0))
    shape = draw(st.lists(st.integers(0, 300) | st.sampled_from([2**32, 2**64 - 1, 2**64]), max_size=3))
    begin = draw(st.integers(0, 64) | st.sampled_from([2**64 - 1, 2**64]))
    numel = 1
    for d in shape:
        numel *= d
    size = numel * DTYPE_BITS.get(dtype, 8) // 8 if isinstance(dtype, str) else 4
    entry: dict[str, Any] = {"dtype": dtype, "shape": shape, "data_offsets": [begin, begin + size]}
    for field in draw(st.sets(st.sampled_from(["dtype", "shape", "data_offsets"]), max_size=2)):
        entry[field] = draw(ENTRY_FIELD)
    return entry if draw(st.integers(0, 20)) else draw(json_values(1))


@settings(max_examples=500)
@given(name=tensor_names(), info=entries())
def test_the_fast_path_agrees_with_the_checked_path(name: str, info: Any) -> None:
    """_well_formed accepts only what _entry_tensor accepts, with the same tensor; it declines only entries
    that need the checked path's leniency (an alias dtype name) or its message."""
    fast = _well_formed(name, info, "f", {})
    try:
        checked: Tensor | None = _entry_tensor(name, info, "f", "f")
    except CorruptHeaderError as exc:
        one_line(exc)
        checked = None
    if fast is not None:
        assert checked == fast
    elif checked is not None:
        assert info["dtype"] not in DTYPE_BITS  # canonical_dtype's aliases (float16 -> F16 ...)


def checked_header(raw: bytes) -> SafetensorsHeader | None:
    """The header as the checked path reads it (json.loads, then every entry on its own), None if refused."""
    try:
        return parse_header(decode_header(raw, file="f"), file="f")
    except CorruptHeaderError as exc:
        one_line(exc)
        return None


BAD_UTF8 = st.just("<bad utf-8>")
NAMES = st.lists(
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12), max_size=6, unique=True
)


@st.composite
def headers_with_extras(draw: st.DrawFn) -> bytes:
    """A well-formed header (any dtype, small shapes, laid out contiguously) whose entries may carry fields
    safetensors does not know, holding any JSON value or bytes that are not UTF-8."""
    header: dict[str, Any] = {}
    if draw(st.booleans()):
        keys = st.sampled_from(["format", "dtype", "shape"]) | st.text(max_size=6)  # entries' own keys too
        header["__metadata__"] = draw(
            st.just({"format": "pt"}) | st.dictionaries(keys, st.text(), max_size=3)
        )
    cursor = 0
    for name in draw(NAMES):
        dtype = draw(st.sampled_from(sorted(DTYPE_BITS)))
        shape = draw(st.lists(st.integers(0, 9), max_size=3))
        size = math.prod(shape) * DTYPE_BITS[dtype] // 8
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [cursor, cursor + size]}
        cursor += size
        if draw(st.integers(0, 2)) == 0:
            header[name][draw(st.sampled_from(["extra", "dtype2", "__metadata__"]))] = draw(
                json_values() | BAD_UTF8
            )
    raw = json.dumps(header, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    return raw.replace(b'"<bad utf-8>"', b'"\xc3\x28"')  # not UTF-8: refused wherever it is, read or skipped


@settings(max_examples=400)
@given(raw=header_bytes() | headers_with_extras())
def test_the_typed_decode_agrees_with_the_checked_path(raw: bytes) -> None:
    """What msgspec's typed decode accepts, the checked path accepts with the same tensors and metadata;
    the one allowed difference is a field safetensors does not read holding an integer over Python's
    4,300 digits, which the typed decode skips unread (as serde does) and ``json.loads`` refuses."""
    typed = _typed_header(raw, "f", ())
    if typed is None:
        return
    checked = checked_header(raw)
    if checked is None:
        assert re.search(rb"\d{4300}", raw), raw[:300]
    else:
        assert typed == checked


@pytest.mark.parametrize(
    "metadata",
    [
        None,
        {},
        {"format": "pt"},
        {"dtype": "F16"},
        {"format": "pt", "total_parameters": "7"},
        {"format": None},
    ],
)
@pytest.mark.parametrize("extra", [{}, {"format": "pt"}, {"offsets": 3}])
def test_the_one_decode_path_reads_metadata_and_entries_as_the_checked_path(
    metadata: dict[str, Any] | None, extra: dict[str, Any]
) -> None:
    """The usual header (entries of three fields, ``__metadata__`` of ``format`` only) is read in one
    decode; metadata with other keys (even an entry's own, like ``dtype``) or entries with other fields
    are read in two; each gives what the checked path gives."""
    header: dict[str, Any] = {} if metadata is None else {"__metadata__": metadata}
    header["a"] = {"dtype": "F16", "shape": [1], "data_offsets": [0, 2], **extra}
    raw = json.dumps(header).encode()
    assert _typed_header(raw, "f", ()) == checked_header(raw)


@pytest.mark.parametrize("depth", [100, 5000])
def test_deep_nesting_in_a_field_safetensors_does_not_read_is_one_line(depth: int) -> None:
    """msgspec raises RecursionError (not its own error) on deep nesting, even while skipping a field."""
    raw = b'{"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2],"x":' + b"[" * depth + b"]" * depth + b"}}"
    if depth < 1000:  # what msgspec and json both read: the field is skipped, the tensor stands
        assert load_header(raw).tensors == [Tensor("a", "F16", (1,), 0, 2)]
    else:
        with pytest.raises(CorruptHeaderError, match="nested deeper") as exc:
            load_header(raw)
        one_line(exc.value)


def test_bundled_headers_take_the_typed_decode() -> None:
    """Every bundled header the checked path accepts is read by the typed decode, to the same tensors (so
    the fast path is the one real checkpoints take)."""
    read = 0
    for repo in FixtureStore(default_fixtures_dir()).repos.values():
        for f in repo.files.values():
            if f.header_bytes is not None and (checked := checked_header(f.header_bytes)) is not None:
                assert _typed_header(f.header_bytes, "f", ()) == checked, f"{repo.repo_id}/{f.path}"
                read += 1
    assert read > 200


# -- GGUF ----------------------------------------------------------------------------------------------

U64_LIES = st.sampled_from([2**64 - 1, 2**63, 2**40, 2**32, 100_000_001, 5000])
SCALAR_TYPES = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}


def gstr(data: bytes, length: int | None = None) -> bytes:
    return struct.pack("<Q", len(data) if length is None else length) + data


@st.composite
def gguf_value(draw: st.DrawFn, depth: int = 0) -> tuple[int, bytes]:
    """(value type, encoded value): scalars, strings and arrays (nested up to 10 deep), lengths and counts
    true or a lie."""
    kind = draw(st.sampled_from([0, 4, 6, 7, 8, 9, 10, 12]) if depth < 10 else st.sampled_from([4, 8]))
    lie = draw(st.none() | U64_LIES) if draw(st.integers(0, 6)) == 0 else None
    if kind == 8:
        return 8, gstr(draw(st.binary(max_size=12)), lie)
    if kind == 9:
        items = draw(st.lists(gguf_value(depth + 1), max_size=3))
        elem = items[0][0] if items else draw(st.sampled_from([4, 8, 9, 13]))
        body = b"".join(v for t, v in items if t == elem)
        count = sum(1 for t, _ in items if t == elem) if lie is None else lie
        return 9, struct.pack("<IQ", elem, count) + body
    fmt = SCALAR_TYPES[kind]
    return kind, struct.pack(fmt, draw(st.integers(0, 1) if kind == 7 else st.integers(0, 120)))


@st.composite
def gguf_bytes(draw: st.DrawFn) -> bytes:
    """A GGUF header from scratch: version, counts (true or lies), key/values, tensor infos, a cut."""
    kvs = draw(st.lists(gguf_value(), max_size=5))
    infos = draw(
        st.lists(
            st.tuples(st.lists(st.integers(1, 64), max_size=5), st.sampled_from([0, 1, 8, 12, 99])),
            max_size=4,
        )
    )
    out = b"GGUF" + struct.pack("<I", draw(st.sampled_from([3, 3, 2, 1, 0x03000000])))
    out += struct.pack("<QQ", draw(st.just(len(infos)) | U64_LIES), draw(st.just(len(kvs)) | U64_LIES))
    for i, (kind, value) in enumerate(kvs):
        out += gstr(f"k.{i}".encode()) + struct.pack("<I", kind) + value
    offset = 0
    for i, (ne, ggml_type) in enumerate(infos):
        out += (
            gstr(f"t.{i}".encode()) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        )
        out += struct.pack("<IQ", ggml_type, offset)
        offset += 4096
    cut = draw(st.none() | st.integers(0, len(out)))
    return out if cut is None else out[:cut]


@settings(max_examples=300)
@given(raw=gguf_bytes(), pieces=st.lists(st.integers(1, 64), min_size=1, max_size=8))
def test_a_gguf_header_is_the_same_whole_or_in_pieces_or_corrupt(raw: bytes, pieces: list[int]) -> None:
    try:
        whole = parse_gguf(raw, file="f.gguf")
    except CorruptHeaderError as exc:
        one_line(exc)
        whole = None
    parser, at = GGUFParser(file="f.gguf"), 0
    try:
        for size in pieces * (len(raw) // max(sum(pieces), 1) + 1):
            parser.feed(raw[at : at + size])
            at += size
            assert parser.done or parser.wanted() >= 1
        fed = parser.finish()
    except CorruptHeaderError:
        fed = None
    assert (whole is None) == (fed is None)
    if whole is not None and fed is not None:
        assert whole == fed and whole.header_end <= len(raw)
        assert all(t.nbytes >= 0 and t.offset >= 0 for t in whole.tensors)


@pytest.mark.parametrize("count", [2**64 - 1, 2**40, 100_000_001])
def test_a_huge_array_count_in_a_gguf_is_refused_at_once(count: int) -> None:
    raw = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gstr(b"a") + struct.pack("<IIQ", 9, 4, count)
    with pytest.raises(CorruptHeaderError):
        parse_gguf(raw + b"\0" * 64)
