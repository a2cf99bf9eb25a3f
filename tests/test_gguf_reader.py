"""hubmem.formats.gguf against llama.cpp's own gguf-py: files written by GGUFWriter, checked against
GGUFReader; the same bytes fed in pieces; and hostile headers, each of which must be CorruptHeaderError."""

from __future__ import annotations

import gzip
import math
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubmem.errors import CorruptHeaderError
from hubmem.formats.gguf.header import GGUFArray, GGUFHeader, Limits
from hubmem.formats.gguf.parser import GGUFParser, parse_gguf

from support.paths import DATA, fixture_path, load_json

Q = gguf.GGMLQuantizationType
VT = gguf.GGUFValueType

SCALARS: dict[str, tuple[Any, gguf.GGUFValueType]] = {
    "t.u8": (200, VT.UINT8),
    "t.i8": (-5, VT.INT8),
    "t.u16": (60_000, VT.UINT16),
    "t.i16": (-30_000, VT.INT16),
    "t.u32": (4_000_000_000, VT.UINT32),
    "t.i32": (-2_000_000_000, VT.INT32),
    "t.f32": (0.5, VT.FLOAT32),
    "t.u64": (2**63 + 5, VT.UINT64),
    "t.i64": (-(2**62), VT.INT64),
    "t.f64": (math.pi, VT.FLOAT64),
    "t.true": (True, VT.BOOL),
    "t.false": (False, VT.BOOL),
    "t.str": ("héllo ✓ 日本語 🦙", VT.STRING),
    "t.empty": ("", VT.STRING),
}
ARRAYS: dict[str, tuple[list[Any], gguf.GGUFValueType]] = {
    "llama.attention.head_count_kv": ([8, 8, 4, 0], VT.INT32),
    "llama.feed_forward_length": ([2048, 2048, 4096], VT.UINT32),
    "a.f32": ([0.25, -1.5], VT.FLOAT32),
    "a.bool": ([True, False, True], VT.BOOL),
    "a.str": (["a", "ü", "日本", ""], VT.STRING),
    "a.u64": ([2**64 - 1], VT.UINT64),
    "a.at_limit": (list(range(4096)), VT.INT16),  # kept: the limit is inclusive
    "a.over_limit": (list(range(4097)), VT.INT16),  # summarised
}
NESTED: dict[str, list[Any]] = {"a.nested": [[1, 2], [3]], "a.nested_str": [["x", "y"], ["z"]]}

# (name, type, shape in numpy order); rows of the block size of each type
TENSORS: list[tuple[str, Any, tuple[int, ...]]] = [
    ("token_embd.weight", Q.Q4_K, (8, 512)),
    ("blk.0.attn_norm.weight", Q.F32, (7,)),  # 28 bytes: padding follows
    ("blk.0.attn_q.weight", Q.F16, (4, 64)),
    ("blk.0.attn_k.weight", Q.BF16, (2, 64)),
    ("blk.0.attn_v.weight", Q.Q8_0, (2, 3, 64)),
    ("blk.0.ffn_up.weight", Q.Q4_0, (3, 96)),
    ("blk.0.ffn_down.weight", Q.Q6_K, (2, 256)),
    ("blk.0.ffn_gate.weight", Q.IQ4_XS, (2, 256)),
    ("blk.0.ternary.weight", Q.TQ1_0, (1, 256)),
    ("blk.0.i32", Q.I32, (3,)),
    ("blk.0.f64", Q.F64, (2, 2)),
    ("blk.0.four_d", Q.F32, (1, 2, 3, 4)),
]
if hasattr(Q, "MXFP4"):  # gguf >= 0.18
    TENSORS.append(("blk.0.ffn_gate_exps.weight", Q.MXFP4, (2, 2, 64)))


def write_gguf(
    path: Path,
    *,
    vocab: int = 0,
    alignment: int | None = None,
    endianess: gguf.GGUFEndian = gguf.GGUFEndian.LITTLE,
    nested_big: int = 0,
) -> bytes:
    """A real GGUF written by gguf-py, with every value type and TENSORS (zero bytes of the right size)."""
    w = gguf.GGUFWriter(path, "llama", endianess=endianess)
    if alignment is not None:
        w.add_custom_alignment(alignment)
    w.add_file_type(int(gguf.LlamaFileType.MOSTLY_Q4_K_M))
    for key, (value, vtype) in SCALARS.items():
        w.add_key_value(key, value, vtype)
    for key, (values, sub) in ARRAYS.items():
        w.add_key_value(key, values, VT.ARRAY, sub)
    for key, values in NESTED.items():
        w.add_array(key, values)
    if vocab:
        w.add_key_value("tokenizer.ggml.tokens", vocab_tokens(vocab), VT.ARRAY, VT.STRING)
        w.add_key_value("tokenizer.ggml.scores", [-float(i) for i in range(vocab)], VT.ARRAY, VT.FLOAT32)
        w.add_key_value("tokenizer.ggml.token_type", [1] * vocab, VT.ARRAY, VT.INT32)
    if nested_big:
        w.add_array("a.nested_big", [[i, i + 1] for i in range(nested_big)])
    w.add_string("tokenizer.chat_template", "{% for m in messages %}{{ m['content'] }}{% endfor %}")
    for name, qtype, shape in TENSORS:
        block, type_size = gguf.GGML_QUANT_SIZES[qtype]
        raw = np.zeros((*shape[:-1], shape[-1] // block * type_size), dtype=np.uint8)
        w.add_tensor(name, raw, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path.read_bytes()


def vocab_tokens(n: int) -> list[str]:
    return [f"▁tok{i}" if i % 7 else f"<0x{i % 256:02X}>é" for i in range(n)]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, bytes]]:
    root = tmp_path_factory.mktemp("gguf")
    specs: dict[str, dict[str, Any]] = {
        "small": {},
        "medium": {"vocab": 5000, "nested_big": 4100, "alignment": 64},
        "big": {"vocab": 300_000, "alignment": 64},
        "big_endian": {"endianess": gguf.GGUFEndian.BIG},
    }
    return {
        name: (root / f"{name}.gguf", write_gguf(root / f"{name}.gguf", **kw)) for name, kw in specs.items()
    }


def reader_header_end(reader: gguf.GGUFReader) -> int:
    field = reader.tensors[-1].field
    return field.offset + sum(int(part.nbytes) for part in field.parts)


def assert_agrees_with_reader(header: GGUFHeader, path: Path) -> None:
    reader = gguf.GGUFReader(path)
    assert header.data_offset == reader.data_offset
    assert header.alignment == reader.alignment
    assert header.header_end == reader_header_end(reader)
    assert len(header.tensors) == len(reader.tensors) == header.n_tensors
    for ours, theirs in zip(header.tensors, reader.tensors, strict=True):
        assert ours.name == theirs.name
        assert ours.ggml_type == theirs.tensor_type.name
        assert ours.ne == tuple(int(d) for d in theirs.shape)
        assert header.data_offset + ours.offset == theirs.data_offset
        assert ours.nbytes == theirs.n_bytes
        assert ours.elements == theirs.n_elements
    fields = {k: f for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    assert set(header.metadata) == set(fields)
    for key, field in fields.items():
        ours = header.metadata[key]
        if field.types[:2] == [VT.ARRAY, VT.ARRAY]:
            continue  # GGUFReader flattens nested arrays; checked against the written values instead
        if isinstance(ours, GGUFArray):
            assert (ours.elem_type, ours.count) == (field.types[-1].name, len(field.data))
        else:
            assert ours == field.contents(), key


@pytest.fixture(scope="module")
def headers(files: dict[str, tuple[Path, bytes]]) -> dict[str, GGUFHeader]:
    return {name: parse_gguf(data) for name, (_, data) in files.items()}


# GGUFReader needs ~20 s for the 300k-string file (a numpy array per string), so "big" is tied to it through
# "medium", written the same way but with a 5,000-entry vocabulary (test_big_file_matches_medium).
@pytest.mark.parametrize("name", ["small", "medium", "big_endian"])
def test_agrees_with_gguf_reader(files: dict[str, tuple[Path, bytes]], name: str) -> None:
    path, data = files[name]
    header = parse_gguf(data, file=path.name, file_size=len(data))
    assert_agrees_with_reader(header, path)
    assert header.size_problem is None
    assert header.expected_file_size == len(data)
    assert header.byte_order == ("big" if name == "big_endian" else "little")
    assert header.notes == ()


def test_big_file_matches_medium(headers: dict[str, GGUFHeader]) -> None:
    big, medium = headers["big"], headers["medium"]
    assert big.tensors == medium.tensors and big.alignment == medium.alignment == 64
    same = {k: v for k, v in medium.metadata.items() if not k.startswith(("tokenizer.ggml.", "a.nested_big"))}
    assert {k: big.metadata[k] for k in same} == same
    assert big.header_end - medium.header_end > 4_000_000


def test_values_and_summary_fields(files: dict[str, tuple[Path, bytes]]) -> None:
    header = parse_gguf(files["big"][1])
    meta = header.metadata
    for key, (value, _) in SCALARS.items():
        assert meta[key] == value and type(meta[key]) is type(value), key
    for key, (values, _) in ARRAYS.items():
        if len(values) <= 4096:
            assert meta[key] == values, key
    assert meta["a.over_limit"] == GGUFArray("INT16", 4097, 4097 * 2)
    assert meta["a.nested"] == [[1, 2], [3]] and meta["a.nested_str"] == [["x", "y"], ["z"]]
    tokens = vocab_tokens(300_000)
    assert meta["tokenizer.ggml.tokens"] == GGUFArray(
        "STRING", 300_000, sum(8 + len(t.encode()) for t in tokens)
    )
    assert meta["tokenizer.ggml.scores"] == GGUFArray("FLOAT32", 300_000, 1_200_000)
    assert (header.version, header.alignment, header.architecture) == (3, 64, "llama")
    assert (header.file_type, header.file_type_name, header.file_type_label) == (
        15,
        "MOSTLY_Q4_K_M",
        "Q4_K_M",
    )
    assert header.data_offset % 64 == 0 and header.data_offset - header.header_end < 64
    assert header.tensor_bytes == sum(t.nbytes for t in header.tensors)
    assert header.parameters == sum(math.prod(shape) for _, _, shape in TENSORS)
    q8 = next(t for t in header.tensors if t.ggml_type == "Q8_0")
    assert (q8.ne, q8.shape, q8.elements, q8.nbytes) == ((64, 3, 2), (2, 3, 64), 384, 384 // 32 * 34)


def test_nested_big_array_is_walked(files: dict[str, tuple[Path, bytes]]) -> None:
    meta = parse_gguf(files["medium"][1]).metadata
    assert meta["a.nested_big"] == GGUFArray("ARRAY", 4100, 4100 * (12 + 2 * 4))


def test_file_type_names() -> None:
    def header(ftype: object) -> GGUFHeader:
        return GGUFHeader(3, 0, 1, {"general.file_type": ftype}, [], 32, 100)

    assert (header(0).file_type_name, header(0).file_type_label) == ("ALL_F32", "F32")
    if hasattr(gguf.LlamaFileType, "MOSTLY_MXFP4_MOE"):  # gguf >= 0.19
        assert header(38).file_type_label == "MXFP4_MOE"
    assert header(9999).file_type_name is None and header("15").file_type is None


def test_check_file_size(files: dict[str, tuple[Path, bytes]]) -> None:
    data = files["small"][1]
    header = parse_gguf(data)
    assert header.check_file_size(len(data)) is None
    last = header.tensors[-1]
    assert header.check_file_size(header.data_offset + last.offset + last.nbytes) is None  # unpadded tail
    problem = header.check_file_size(len(data) + 4096)
    assert problem is not None and "4,096 bytes unaccounted for" in problem
    assert "missing" in (header.check_file_size(len(data) - 1000) or "")
    assert parse_gguf(data, file_size=len(data) + 1).size_problem is not None


# -- feeding in pieces ---------------------------------------------------------------------------------


def feed_in_chunks(data: bytes, header_end: int, sizes: Iterator[int]) -> tuple[GGUFParser, int]:
    """Feed ``data`` in pieces, checking wanted() / min_wanted() before each feed."""
    parser, at, feeds = GGUFParser(), 0, 0
    while not parser.done:
        assert at < len(data)
        low, want = parser.min_wanted(), parser.wanted()
        assert want >= 1 and want >= low
        assert low <= header_end - at  # a true lower bound
        n = next(sizes)
        parser.feed(data[at : at + n])
        at, feeds = at + n, feeds + 1
    return parser, feeds


def cycle(sizes: list[int]) -> Iterator[int]:
    while True:
        yield from sizes


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 6000), min_size=1, max_size=40))
def test_random_chunks_give_the_same_header(
    files: dict[str, tuple[Path, bytes]], headers: dict[str, GGUFHeader], sizes: list[int]
) -> None:
    whole = headers["medium"]
    parser, _ = feed_in_chunks(files["medium"][1], whole.header_end, cycle(sizes))
    assert parser.result() == whole


def test_one_byte_at_a_time(files: dict[str, tuple[Path, bytes]], headers: dict[str, GGUFHeader]) -> None:
    whole = headers["small"]
    parser, feeds = feed_in_chunks(files["small"][1], whole.header_end, cycle([1]))
    assert parser.result() == whole and feeds == whole.header_end


def test_wanted_reads_finish_in_a_few_round_trips(files: dict[str, tuple[Path, bytes]]) -> None:
    """First a 64 KiB read, then wanted() bytes each time: 2 reads on the 300k-token file (<= 4 allowed)."""
    data = files["big"][1]
    parser = GGUFParser(file_size=len(data))
    parser.feed(data[: 64 * 1024])
    reads = 1
    while not parser.done:
        want = parser.wanted()
        assert 1 <= want <= len(data) - parser.received
        parser.feed(data[parser.received : parser.received + want])
        reads += 1
    assert reads <= 4
    assert parser.result() == parse_gguf(data, file_size=len(data))
    assert parser.wanted() == parser.min_wanted() == 0


def test_resumes_inside_a_string_array(files: dict[str, tuple[Path, bytes]]) -> None:
    data = files["big"][1]
    header = parse_gguf(data)
    parser = GGUFParser()
    cut = 1_000_003  # inside tokenizer.ggml.tokens, in the middle of a string
    parser.feed(data[:cut])
    assert not parser.done and parser.buffered < 64
    assert parser.min_wanted() > 100_000 * 8  # it knows how many strings are left
    parser.feed(data[cut : header.header_end])
    assert parser.result() == header


def test_small_chunks_are_linear_and_keep_only_the_tail(files: dict[str, tuple[Path, bytes]]) -> None:
    data = files["big"][1]
    parser = GGUFParser()
    start = time.process_time()
    most = 0
    for at in range(0, len(data), 4096):
        parser.feed(data[at : at + 4096])
        most = max(most, parser.buffered)
        if parser.done:
            break
    elapsed = time.process_time() - start
    assert parser.result() == parse_gguf(data)
    assert most < 8192  # never more than a chunk and an incomplete item
    assert elapsed < 2.0, f"{elapsed:.2f} s for {len(data) // 4096} feeds"


def test_parse_speed(files: dict[str, tuple[Path, bytes]]) -> None:
    """~5 MB header with a 300k-string array: about 0.05 s of CPU measured; the bound leaves 10x."""
    data = files["big"][1]
    parse_gguf(data)  # tables loaded
    start = time.process_time()
    header = parse_gguf(data)
    elapsed = time.process_time() - start
    assert header.header_end > 4_000_000
    assert elapsed < 0.5, f"{elapsed:.3f} s"


def test_feed_accepts_bytearray_and_memoryview(files: dict[str, tuple[Path, bytes]]) -> None:
    data = files["small"][1]
    parser = GGUFParser()
    half = len(data) // 3
    parser.feed(bytearray(data[:half]))
    parser.feed(memoryview(data)[half:])
    assert parser.result() == parse_gguf(data)
    parser.feed(b"more bytes after the header are ignored")
    with pytest.raises(RuntimeError):
        GGUFParser().result()


# -- hostile headers -----------------------------------------------------------------------------------


def u32(x: int) -> bytes:
    return struct.pack("<I", x)


def u64(x: int) -> bytes:
    return struct.pack("<Q", x)


def gstr(s: bytes | str) -> bytes:
    raw = s.encode() if isinstance(s, str) else s
    return u64(len(raw)) + raw


def kv(key: bytes | str, vtype: int, payload: bytes) -> bytes:
    return gstr(key) + u32(vtype) + payload


def arr(etype: int, count: int, payload: bytes = b"") -> bytes:
    return u32(etype) + u64(count) + payload


def tinfo(name: bytes | str, ne: tuple[int, ...], qtype: int, offset: int) -> bytes:
    return gstr(name) + u32(len(ne)) + b"".join(u64(d) for d in ne) + u32(qtype) + u64(offset)


def build(
    kvs: tuple[bytes, ...] = (),
    tensors: tuple[bytes, ...] = (),
    *,
    version: int = 3,
    magic: bytes = b"GGUF",
    n_tensors: int | None = None,
    n_kv: int | None = None,
) -> bytes:
    counts = u64(len(tensors) if n_tensors is None else n_tensors) + u64(len(kvs) if n_kv is None else n_kv)
    return magic + u32(version) + counts + b"".join(kvs) + b"".join(tensors)


ARCH = kv("general.architecture", VT.STRING, gstr("llama"))
F32_8 = tinfo("a", (8,), Q.F32, 0)


def nested(depth: int) -> bytes:
    payload = arr(VT.UINT8, 1, b"\x01")
    for _ in range(depth - 1):
        payload = arr(VT.ARRAY, 1, payload)
    return kv("deep", VT.ARRAY, payload)


HOSTILE: dict[str, tuple[bytes, str]] = {
    "wrong magic": (build(magic=b"GGML"), "not a GGUF file: magic b'GGML'"),
    "safetensors": (u64(100) + b'{"a": {}}', "not a GGUF file"),
    "version 1": (build(version=1), "version 1 (32-bit counts) is not supported"),
    "version 0": (build(version=0), "unsupported GGUF version 0"),
    "version 4": (build(version=4), "unsupported GGUF version 4"),
    "too many tensors": (build(n_tensors=1_000_001), "tensor count 1,000,001 exceeds"),
    "too many keys": (build(n_kv=2_000_000), "key/value count 2,000,000 exceeds"),
    "array count": (build((kv("a", VT.ARRAY, arr(VT.UINT8, 100_000_001)),)), "array count 100,000,001"),
    "array cannot fit": (build((kv("a", VT.ARRAY, arr(VT.UINT64, 50_000_000)),)), "byte limit"),
    "key length": (build((u64(2**40),)), "key length 1,099,511,627,776 exceeds"),
    "string value length": (build((kv("s", VT.STRING, u64(17 << 20)),)), "string length 17,825,792 exceeds"),
    "string in a big array": (
        build((kv("t", VT.ARRAY, arr(VT.STRING, 5000, gstr("a") * 10 + u64(2**40))),)),
        "string length 1,099,511,627,776 exceeds",
    ),
    "tensor name length": (build((ARCH,), (u64(2**62),)), "tensor name length"),
    "nested too deep": (build((nested(9),)), "arrays nested deeper than 8"),
    "five dimensions": (
        build((), (tinfo("a", (1, 1, 1, 1, 1), Q.F32, 0),)),
        "5 dimensions (GGML_MAX_DIMS is 4)",
    ),
    "elements overflow": (build((), (tinfo("a", (2**32, 2**32), Q.F32, 0),)), "more than 2^63 elements"),
    "negative dimension": (build((), (tinfo("a", (2**64 - 1,), Q.F32, 0),)), "negative as int64"),
    "removed ggml type": (build((), (tinfo("a", (32,), 4, 0),)), "unknown ggml type 4"),
    "unknown ggml type": (build((), (tinfo("a", (32,), 999, 0),)), "unknown ggml type 999"),
    "row not a block multiple": (
        build((), (tinfo("a", (100,), Q.Q4_K, 0),)),
        "not a multiple of Q4_K's block 256",
    ),
    "unknown value type": (build((kv("x", 13, b""),)), "unknown value type 13"),
    "unknown element type": (build((kv("x", VT.ARRAY, arr(77, 1)),)), "unknown array element type 77"),
    "offset not aligned": (
        build((), (F32_8, tinfo("b", (8,), Q.F32, 40))),
        "not a multiple of the alignment 32",
    ),
    "offsets overlap": (build((), (F32_8, tinfo("b", (8,), Q.F32, 0))), "overlaps the previous tensor"),
    "offsets decrease": (
        build((), (tinfo("a", (8,), Q.F32, 64), tinfo("b", (8,), Q.F32, 0))),
        "overlaps the previous tensor",
    ),
    "key not UTF-8": (build((kv(b"bad\xff", VT.UINT8, b"\x01"),)), "key is not valid UTF-8"),
    "tensor name not UTF-8": (
        build((), (tinfo(b"\xc3(", (8,), Q.F32, 0),)),
        "tensor name is not valid UTF-8",
    ),
    "duplicate key": (build((ARCH, ARCH)), "duplicate key 'general.architecture'"),
    "duplicate tensor": (build((), (F32_8, tinfo("a", (8,), Q.F32, 32))), "duplicate tensor name 'a'"),
    "alignment 48": (
        build((kv("general.alignment", VT.UINT32, u32(48)),)),
        "alignment 48 is not a power of two",
    ),
    "alignment 0": (build((kv("general.alignment", VT.UINT32, u32(0)),)), "is not a power of two"),
    "alignment string": (
        build((kv("general.alignment", VT.STRING, gstr("32")),)),
        "'32' is not a power of two",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_header_is_refused(case: str) -> None:
    data, fragment = HOSTILE[case]
    with pytest.raises(CorruptHeaderError) as info:
        parse_gguf(data, file="evil.gguf")
    message = str(info.value)
    assert fragment in message
    assert message.startswith("evil.gguf: ") and "\n" not in message
    assert info.value.kind == "corrupt_header"


def test_hostile_header_raises_from_feed_and_stays_failed() -> None:
    parser = GGUFParser(file="x")
    with pytest.raises(CorruptHeaderError):
        parser.feed(HOSTILE["too many keys"][0])
    for call in (
        lambda: parser.feed(b"more"),
        parser.wanted,
        parser.min_wanted,
        parser.result,
        parser.finish,
    ):
        with pytest.raises(CorruptHeaderError, match="key/value count"):
            call()


def test_truncation_waits_in_feed_and_fails_in_finish(files: dict[str, tuple[Path, bytes]]) -> None:
    data = files["medium"][1]
    end = parse_gguf(data).header_end
    for cut in (0, 3, 4, 23, 24, 100, end // 2, end - 1):
        parser = GGUFParser(file="cut.gguf")
        parser.feed(data[:cut])  # no exception: more may come
        assert not parser.done and parser.wanted() >= 1
        with pytest.raises(CorruptHeaderError, match=r"^cut\.gguf: truncated: the header needs at least"):
            parser.finish()
        with pytest.raises(CorruptHeaderError, match="truncated"):
            parse_gguf(data[:cut])


def test_string_values_with_bad_utf8_are_replaced() -> None:
    header = parse_gguf(build((kv("s", VT.STRING, gstr(b"ok\xff")),)))
    assert header.metadata["s"] == "ok\ufffd"


def test_arrays_nested_up_to_the_limit_are_read() -> None:
    value = parse_gguf(build((nested(8),))).metadata["deep"]
    for _ in range(7):
        assert isinstance(value, list) and len(value) == 1
        value = value[0]
    assert value == [1]


def test_version_2_and_empty_files_parse() -> None:
    blob = build((ARCH,), version=2)
    header = parse_gguf(blob)
    assert (header.version, header.tensors, header.architecture) == (2, [], "llama")
    assert (header.header_end, header.data_offset) == (len(blob), 96)
    assert header.check_file_size(header.header_end) is None


def test_header_limit_and_file_size_bound_reads(files: dict[str, tuple[Path, bytes]]) -> None:
    data = files["small"][1]
    with pytest.raises(CorruptHeaderError, match="exceed the 1,000-byte limit"):
        parse_gguf(data, limits=Limits(max_header_bytes=1000))
    with pytest.raises(CorruptHeaderError, match="runs past the end of the 500-byte file"):
        GGUFParser(file_size=500).feed(data[:500])
    with pytest.raises(CorruptHeaderError, match="past the end of the 10-byte file"):
        GGUFParser(file_size=10).feed(data[:10])
    with pytest.raises(CorruptHeaderError, match="past the end of the 2-byte file"):
        GGUFParser(file_size=2)
    with pytest.raises(CorruptHeaderError, match="exceed the 1,000-byte limit"):  # refused from the counts
        GGUFParser(limits=Limits(max_header_bytes=1000)).feed(build(n_kv=100))
    short = parse_gguf(data, limits=Limits(keep_array_values=2))
    assert short.metadata["a.str"] == GGUFArray("STRING", 4, 4 * 8 + 1 + 2 + 6)


def test_gaps_and_long_names_are_notes_not_errors() -> None:
    long = "x" * 64
    header = parse_gguf(build((), (tinfo("a", (8,), Q.F32, 64), tinfo(long, (8,), Q.F32, 128))))
    assert [t.offset for t in header.tensors] == [64, 128]
    assert len(header.notes) == 2 and "gap" in header.notes[0] and "64 bytes" in header.notes[1]


MUTATION = st.tuples(
    st.integers(0, 10_000),
    st.one_of(
        st.binary(min_size=1, max_size=1),
        st.sampled_from(
            [u64(2**64 - 1), u64(2**63), u64(5000), u64(2**40), u32(9), u32(0xFFFFFFFF), u32(13)]
        ),
    ),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(MUTATION, min_size=1, max_size=6), cut=st.none() | st.integers(0, 20_000))
def test_mutated_headers_only_ever_raise_corrupt(
    files: dict[str, tuple[Path, bytes]],
    headers: dict[str, GGUFHeader],
    mutations: list[tuple[int, bytes]],
    cut: int | None,
) -> None:
    base, end = files["small"][1], headers["small"].header_end
    data = bytearray(base[:end])
    for at, patch in mutations:
        at %= end
        data[at : at + len(patch)] = patch
    blob = bytes(data[:cut]) if cut is not None else bytes(data)
    try:
        header = parse_gguf(blob, file="fuzz")
    except CorruptHeaderError as exc:
        assert str(exc).startswith("fuzz: ") and "\n" not in str(exc)
    else:
        assert header.header_end <= len(blob)


# -- the real gemma-3-270m header (the committed fixture) ---------------------------------------------------

GEMMA_PREFIX = "repos/hugginllam__gemma-3-270m-Q4_K_M-GGUF/headers/gemma-3-270m-q4_k_m.gguf.prefix.gz"
# what gguf-py's GGUFReader made of the whole file
GEMMA_JSON = DATA / "llamacpp" / "gemma-3-270m-q4_k_m.header.json"


def test_real_gemma_3_270m_header() -> None:
    data = gzip.decompress(fixture_path(GEMMA_PREFIX).read_bytes())  # the file's first header_end bytes
    want = load_json(GEMMA_JSON)
    header = parse_gguf(data, file=want["file"], file_size=want["file_size"])
    assert header.tensor_bytes == 246_587_904
    assert header.parameters == 268_098_176
    assert (header.architecture, header.file_type_label, header.size_problem) == ("gemma3", "Q4_K_M", None)
    assert (header.version, header.n_tensors, header.n_kv) == (
        want["gguf_version"],
        want["n_tensors"],
        want["n_kv"],
    )
    assert (header.header_end, header.data_offset) == (want["header_end"], want["data_offset"])
    got = [[t.name, list(t.ne), t.ggml_type, t.offset, t.elements, t.nbytes] for t in header.tensors]
    assert got == want["tensors"]
    for key, value in want["kv_scalars"].items():
        assert header.metadata[key] == value, key
    for key, info in want["kv_arrays"].items():
        ours = header.metadata[key]
        count = ours.count if isinstance(ours, GGUFArray) else len(ours)
        assert count == info["len"], key
    assert header.metadata["tokenizer.ggml.tokens"] == GGUFArray("STRING", 262_144, 4_412_518)
    # the read pattern hubmem uses: 64 KiB, then wanted() bytes
    parser = GGUFParser(file=want["file"], file_size=want["file_size"])
    parser.feed(data[: 64 * 1024])
    reads = 1
    while not parser.done:
        parser.feed(data[parser.received : parser.received + parser.wanted()])
        reads += 1
    assert reads == 2 and parser.result() == header
