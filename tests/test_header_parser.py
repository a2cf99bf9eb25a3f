"""hubmem.formats.safetensors against the safetensors format and the safetensors library itself.

Files are written either by the library (``safetensors.numpy.save``) or, for dtypes numpy has no
type for (F8 / F6 / F4 / E8M0), byte by byte following the format; the library's own reader
(``safe_open``) is the judge of what a valid file is.
"""

from __future__ import annotations

import json
import math
import random
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save, save_file

from hubmem.errors import CorruptHeaderError
from hubmem.formats.dtypes import DTYPE_ALIASES, DTYPE_BITS, canonical_dtype
from hubmem.formats.safetensors import MAX_HEADER_LENGTH, decode_header, parse_tensors, read_header_length

# safetensors/src/tensor.rs Dtype::bitsize, written out independently of hubmem.formats.dtypes
SPEC_BITS = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E4M3": 8,
    "F8_E5M2": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "F8_E8M0": 8,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "F4": 4,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "I64": 64,
    "U64": 64,
    "F64": 64,
    "C64": 64,
}


def raw_file(entries: dict[str, Any], data: bytes | None = None, *, pad: bool = True) -> bytes:
    """A safetensors file built from the format description: u64 N, N bytes of JSON, the buffer."""
    hb = json.dumps(entries, separators=(",", ":")).encode()
    if pad:
        hb += b" " * (-len(hb) % 8)
    if data is None:
        end = max((v["data_offsets"][1] for k, v in entries.items() if k != "__metadata__"), default=0)
        data = bytes(end)
    return struct.pack("<Q", len(hb)) + hb + data


def parse_bytes(blob: bytes, name: str = "model.safetensors") -> list[Any]:
    n = read_header_length(blob[:8], file=name)
    header = decode_header(blob[8 : 8 + n], file=name)
    return parse_tensors(header, file=name, data_size=len(blob) - 8 - n)


def library_view(path: Path) -> dict[str, tuple[str, list[int]]]:
    with safe_open(str(path), "np") as f:
        return {k: (f.get_slice(k).get_dtype(), list(f.get_slice(k).get_shape())) for k in f.keys()}  # noqa: SIM118


def test_dtype_table_is_the_spec() -> None:
    assert DTYPE_BITS == SPEC_BITS
    assert canonical_dtype("E8M0") == canonical_dtype("UE8") == "F8_E8M0"
    assert canonical_dtype("FP4") == "F4"
    assert canonical_dtype("float16") is None
    assert set(DTYPE_ALIASES.values()) <= set(DTYPE_BITS)


@pytest.mark.parametrize("dtype", sorted(SPEC_BITS))
def test_every_dtype_parses_and_the_library_agrees(dtype: str, tmp_path: Path) -> None:
    bits = SPEC_BITS[dtype]
    shape = [4, 6]  # 24 elements: whole bytes for 4, 6 and 8+ bit dtypes
    nbytes = math.prod(shape) * bits // 8
    blob = raw_file({"t": {"dtype": dtype, "shape": shape, "data_offsets": [0, nbytes]}})
    path = tmp_path / "f.safetensors"
    path.write_bytes(blob)
    assert library_view(path) == {"t": (dtype, shape)}
    (t,) = parse_bytes(blob)
    assert (t.dtype, list(t.shape), t.nbytes, t.numel) == (dtype, shape, nbytes, 24)


@pytest.mark.parametrize(
    ("dtype", "numel", "ok"), [("F4", 3, False), ("F4", 2, True), ("F6_E2M3", 3, False), ("F6_E3M2", 4, True)]
)
def test_sub_byte_alignment_matches_the_library(dtype: str, numel: int, ok: bool, tmp_path: Path) -> None:
    nbytes = -(-numel * SPEC_BITS[dtype] // 8)
    blob = raw_file({"t": {"dtype": dtype, "shape": [numel], "data_offsets": [0, nbytes]}})
    path = tmp_path / "f.safetensors"
    path.write_bytes(blob)
    try:
        library_view(path)
        library_ok = True
    except Exception:
        library_ok = False
    assert library_ok is ok
    if ok:
        (t,) = parse_bytes(blob)
        assert t.nbytes == numel * SPEC_BITS[dtype] // 8
    else:
        with pytest.raises(CorruptHeaderError, match="byte aligned"):
            parse_bytes(blob)


def test_alias_dtype_spellings_are_canonicalised() -> None:
    header = {
        "s": {"dtype": "UE8", "shape": [4], "data_offsets": [0, 4]},
        "w": {"dtype": "FP4", "shape": [4], "data_offsets": [4, 6]},
    }
    ts = parse_tensors(header)
    assert [(t.name, t.dtype) for t in ts] == [("s", "F8_E8M0"), ("w", "F4")]


def test_unknown_dtype_is_a_typed_error_naming_it() -> None:
    header = {"x": {"dtype": "F12", "shape": [2], "data_offsets": [0, 3]}}
    with pytest.raises(CorruptHeaderError, match="F12") as exc:
        parse_tensors(header, file="model-00001.safetensors")
    assert "model-00001.safetensors" in str(exc.value)
    assert exc.value.hint and "BF16" in exc.value.hint


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        # order does not matter, but holes, overlaps and size mismatches do
        ({"a": [0, 8], "b": [16, 24]}, "hole"),
        ({"a": [0, 8], "b": [4, 12]}, "overlaps"),
        ({"a": [8, 16], "b": [16, 24]}, "hole"),  # does not start at 0
        ({"a": [0, 8], "b": [8, 12]}, "needs"),  # 4 bytes for an F32 x [2]
        ({"a": [8, 0]}, "invalid data_offsets"),
        ({"a": [0, -8]}, "invalid data_offsets"),
        ({"a": [0, 8.0]}, "invalid data_offsets"),
        ({"a": [0]}, "invalid data_offsets"),
        ({"a": [False, 8]}, "invalid data_offsets"),
    ],
)
def test_data_offsets_validation(entries: dict[str, list[Any]], message: str) -> None:
    header = {k: {"dtype": "F32", "shape": [2], "data_offsets": v} for k, v in entries.items()}
    with pytest.raises(CorruptHeaderError, match=message):
        parse_tensors(header)


def test_offsets_in_any_key_order_are_accepted_and_sorted() -> None:
    header = {
        "z": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]},
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
    }
    assert [t.name for t in parse_tensors(header, data_size=16)] == ["a", "z"]


def test_data_size_must_be_covered_exactly() -> None:
    header = {"a": {"dtype": "F16", "shape": [3], "data_offsets": [0, 6]}}
    assert parse_tensors(header, data_size=6)
    for size in (5, 7):
        with pytest.raises(CorruptHeaderError, match="file holds"):
            parse_tensors(header, data_size=size)


@pytest.mark.parametrize("shape", [[-1, 2], [2.0], "2", None, [True, 2]])
def test_invalid_shapes(shape: Any) -> None:
    header = {"a": {"dtype": "U8", "shape": shape, "data_offsets": [0, 2]}}
    with pytest.raises(CorruptHeaderError, match="shape"):
        parse_tensors(header)


def test_header_length_limits() -> None:
    assert read_header_length(struct.pack("<Q", MAX_HEADER_LENGTH)) == 25_000_000
    with pytest.raises(CorruptHeaderError, match="exceeds"):
        read_header_length(struct.pack("<Q", MAX_HEADER_LENGTH + 1), file="big.safetensors")
    with pytest.raises(CorruptHeaderError, match="shorter than 8"):
        read_header_length(b"\x01\x00", file="tiny.safetensors")
    with pytest.raises(CorruptHeaderError):
        read_header_length(struct.pack("<Q", 1))
    # a GGUF / pickle / HTML file read as safetensors gives an absurd length, refused before any read
    with pytest.raises(CorruptHeaderError):
        read_header_length(b"GGUF\x03\x00\x00\x00")


@pytest.mark.parametrize("raw", [b"\xff\xfe{}", b"{not json", b"[1, 2]", b'"text"'])
def test_decode_header_rejects_non_objects(raw: bytes) -> None:
    with pytest.raises(CorruptHeaderError):
        decode_header(raw, file="x.safetensors")


def test_metadata_must_be_an_object() -> None:
    with pytest.raises(CorruptHeaderError, match="__metadata__"):
        parse_tensors({"__metadata__": ["x"]})
    assert parse_tensors({"__metadata__": {"format": "pt"}}) == []


def test_entry_must_be_an_object() -> None:
    with pytest.raises(CorruptHeaderError, match="not an object"):
        parse_tensors({"a": [1, 2]})


def test_scalar_and_zero_size_tensors(tmp_path: Path) -> None:
    arrays = {
        "scalar": np.array(3.5, dtype=np.float32),  # shape []
        "empty": np.zeros((0, 7), dtype=np.float16),
        "empty2": np.zeros((3, 0), dtype=np.int64),
        "w": np.ones((2, 3), dtype=np.float32),
    }
    path = tmp_path / "m.safetensors"
    save_file(arrays, str(path))
    blob = path.read_bytes()
    by_name = {t.name: t for t in parse_bytes(blob)}
    assert by_name["scalar"].shape == () and by_name["scalar"].numel == 1 and by_name["scalar"].nbytes == 4
    assert by_name["empty"].numel == 0 and by_name["empty"].nbytes == 0
    assert by_name["empty2"].nbytes == 0
    assert sum(t.nbytes for t in by_name.values()) == 4 + 24


def test_header_of_exactly_99995_bytes(tmp_path: Path) -> None:
    """Beyond the Hub clients' first 100,000-byte read: the parser must not care about its size."""
    blob = save({"w": np.arange(12, dtype=np.float32).reshape(3, 4)})
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8 : 8 + n])
    data = blob[8 + n :]
    header["__metadata__"] = {"pad": ""}
    base = len(json.dumps(header).encode())
    header["__metadata__"]["pad"] = "x" * (99_995 - base)
    hb = json.dumps(header).encode()
    assert len(hb) == 99_995
    out = struct.pack("<Q", len(hb)) + hb + data
    path = tmp_path / "big-header.safetensors"
    path.write_bytes(out)
    assert library_view(path) == {"w": ("F32", [3, 4])}
    assert read_header_length(out[:8]) == 99_995
    (t,) = parse_bytes(out)
    assert (t.name, t.nbytes) == ("w", 48)


def test_trailing_space_padding_is_allowed() -> None:
    blob = save({"a": np.zeros(3, dtype=np.uint8)})  # the library pads the header with spaces to 8 bytes
    n = struct.unpack("<Q", blob[:8])[0]
    assert blob[8 + n - 1 : 8 + n] in (b" ", b"}")
    assert parse_bytes(blob)[0].nbytes == 3


_NP_DTYPES = {
    np.float16: "F16",
    np.float32: "F32",
    np.float64: "F64",
    np.int8: "I8",
    np.uint8: "U8",
    np.int16: "I16",
    np.uint16: "U16",
    np.int32: "I32",
    np.uint32: "U32",
    np.int64: "I64",
    np.uint64: "U64",
    np.bool_: "BOOL",
    np.complex64: "C64",
}


@pytest.mark.parametrize("seed", range(8))
def test_random_files_match_the_library(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    arrays: dict[str, np.ndarray] = {}
    for i in range(rng.randint(1, 12)):
        dt = rng.choice(list(_NP_DTYPES))
        shape = tuple(rng.randint(0, 5) for _ in range(rng.randint(0, 4)))
        arrays[f"layer.{i}.{rng.choice(['weight', 'bias', 'scale'])}"] = np.zeros(shape, dtype=dt)
    path = tmp_path / "r.safetensors"
    save_file(arrays, str(path), metadata={"format": "np", "seed": str(seed)})
    blob = path.read_bytes()
    tensors = parse_bytes(blob)
    view = library_view(path)
    assert {t.name: (t.dtype, list(t.shape)) for t in tensors} == view
    with safe_open(str(path), "np") as f:
        for t in tensors:
            assert t.nbytes == f.get_tensor(t.name).nbytes
    n = struct.unpack("<Q", blob[:8])[0]
    assert sum(t.nbytes for t in tensors) == len(blob) - 8 - n
    # bytes per element follow the spec table
    for t in tensors:
        assert t.nbytes * 8 == t.numel * SPEC_BITS[t.dtype]
        assert t.dtype == _NP_DTYPES[arrays[t.name].dtype.type]


def test_real_minilm_header() -> None:
    """The real all-MiniLM-L6-v2 header (fixtures): 104 tensors, 22,713,728 elements, 90,868,376-byte file."""
    root = (
        Path(__file__).resolve().parent.parent
        / "fixtures"
        / "repos"
        / "sentence-transformers__all-MiniLM-L6-v2"
    )
    raw = (root / "headers" / "model.safetensors.json").read_bytes()
    assert len(raw) == 11_408
    tensors = parse_tensors(decode_header(raw), file="model.safetensors", data_size=90_868_376 - 8 - len(raw))
    assert len(tensors) == 104
    assert sum(t.numel for t in tensors) == 22_713_728
    with pytest.raises(CorruptHeaderError):
        parse_tensors(decode_header(raw), data_size=90_868_376 - 8 - len(raw) + 1)
