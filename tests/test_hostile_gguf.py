"""Issue #10 for code added after it: GGUF files. A ``block_count`` of 10^18 built per-layer lists of that
length in the GGUF architecture reader (MemoryError, or OverflowError for 2^64 - 1) for every engine view;
now it is an invalid value like a config.json layer count. A header-cache record of a GGUF header that the
parser could not have produced (another hubmem version's, or forged under a valid checksum) raised
KeyError / TypeError / ValueError from the report build; now it is a miss and the header is read again.
Hostile GGUF bytes (huge counts and lengths, truncation, bad magic) over the fake Hub:
tests/test_gguf_fetch.py; the GGUF parser's properties: tests/test_properties_headers.py."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubmem.errors import CorruptHeaderError
from hubmem.fakehub.fixtures.layout import RepoWriter, write_tokens
from hubmem.fakehub.server import FakeHub
from hubmem.fetch.cache.store import HeaderCache
from hubmem.formats.gguf.parser import parse_gguf
from hubmem.formats.gguf.record import header_from_record, header_record
from hubmem.pipeline import analyze_async, analyze_source
from hubmem.schema.kv import KVOptions
from hubmem.schema.options import Options
from scripts.fuzz.seeds import gguf_seeds

pytestmark = pytest.mark.e2e

BLOCK_COUNT = b"qwen3.block_count"


def with_block_count(raw: bytes, value: int) -> bytes:
    """The tiny Qwen3 GGUF header with ``qwen3.block_count`` (a u32) rewritten as a u64 ``value``."""
    at = raw.index(BLOCK_COUNT) + len(BLOCK_COUNT)
    assert struct.unpack_from("<I", raw, at)[0] == 4  # UINT32
    return raw[:at] + struct.pack("<IQ", 10, value) + raw[at + 8 :]


@pytest.fixture
def hub(tmp_path: Path, make_fake_hub: Callable[..., FakeHub]) -> FakeHub:
    root = tmp_path / "fx"
    write_tokens(root)
    tiny = gguf_seeds()[2]  # tiny-Q8_0.gguf: 2 layers, 64 tokens
    for name, raw in [
        ("tiny", tiny),
        ("layers", with_block_count(tiny, 10**18)),
        ("u64", with_block_count(tiny, 2**64 - 1)),
    ]:
        size = parse_gguf(raw).expected_file_size
        RepoWriter(root, f"gguf/{name}").add_prefix("model-Q8_0.gguf", raw, size=size).write()
    return make_fake_hub(root)


@pytest.mark.parametrize("repo", ["gguf/layers", "gguf/u64"])
@pytest.mark.parametrize("engine", ["llama.cpp", "vllm", "transformers"])
async def test_a_huge_gguf_block_count_is_an_invalid_value(hub: FakeHub, repo: str, engine: str) -> None:
    options = Options.model_validate({"kv": {"engine": engine}, "gpu": "h100"})
    report = await analyze_async(repo, options, endpoint=hub.endpoint, token=False, check=True)
    assert any("block_count" in m and "invalid value" in m for m in report.architecture.missing)
    assert report.weights.total_bytes > 0  # the tensors are still counted exactly
    json.loads(report.model_dump_json())


def test_a_huge_block_count_in_a_local_gguf_is_an_invalid_value(tmp_path: Path) -> None:
    raw = with_block_count(gguf_seeds()[2], 10**18)
    path = tmp_path / "model.gguf"
    path.write_bytes(raw + b"\0" * (parse_gguf(raw).expected_file_size - len(raw)))
    report = analyze_source(str(path), Options(kv=KVOptions(engine="llama.cpp")))
    assert any("block_count" in m and "invalid value" in m for m in report.architecture.missing)


def forge_records(cache: HeaderCache, edit: Callable[[dict[str, Any]], object]) -> int:
    """Rewrite every GGUF header entry with ``edit`` applied and a valid checksum; how many."""
    n = 0
    for path in (cache.root / "v2").rglob("*.json"):
        head_line, _, body = path.read_bytes().partition(b"\n")
        value = json.loads(body)
        if value.get("format") != "gguf":
            continue
        edit(value["header"])
        new = json.dumps(value).encode()
        head = json.loads(head_line) | {"bytes": len(new), "sha256": hashlib.sha256(new).hexdigest()}
        path.write_bytes(json.dumps(head).encode() + b"\n" + new)
        n += 1
    return n


EDITS: dict[str, Callable[[dict[str, Any]], object]] = {
    "no tensors key": lambda r: r.pop("tensors"),
    "tensors not rows": lambda r: r.update(tensors=[5]),
    "wrong byte size": lambda r: r["tensors"][0].__setitem__(4, 1),
    "unknown type": lambda r: r["tensors"][0].__setitem__(1, ["Q8_0"]),
    "metadata a list": lambda r: r.update(metadata=[]),
    "bad summary": lambda r: r["metadata"].__setitem__("tokenizer.ggml.tokens", {"$gguf_array": 1}),
    "alignment 0": lambda r: r.update(alignment=0),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
async def test_a_gguf_cache_record_the_parser_could_not_have_made_is_a_miss(
    hub: FakeHub, tmp_path: Path, edit: str
) -> None:
    cache = HeaderCache(tmp_path / "cache")
    first = await analyze_async("gguf/tiny", endpoint=hub.endpoint, token=False, cache=cache)
    assert forge_records(cache, EDITS[edit]) == 1
    again = await analyze_async("gguf/tiny", endpoint=hub.endpoint, token=False, cache=cache)
    assert again.weights == first.weights and cache.stats.errors >= 1


def test_a_record_is_checked_as_the_parser_checks() -> None:
    record = header_record(parse_gguf(gguf_seeds()[2]))
    assert header_from_record(record).tensors
    for edit in EDITS.values():
        broken = json.loads(json.dumps(record))
        edit(broken)
        with pytest.raises(ValueError, match="GGUF header record"):
            header_from_record(broken)


def test_a_bad_record_in_a_snapshot_is_a_corrupt_header() -> None:
    from hubmem.pipeline import build_report
    from hubmem.snapshot import Snapshot, WeightFile

    record = header_record(parse_gguf(gguf_seeds()[2]))
    record["tensors"] = [5]
    snapshot = Snapshot(
        "o/x", "main", None, "local", files=[WeightFile("m.gguf", 100, record, format="gguf")]
    )
    with pytest.raises(CorruptHeaderError, match="GGUF header record"):
        build_report(snapshot)


def _kv_array(body: bytes) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1) + b"a" + struct.pack("<I", 9) + body


LOCAL = {
    "truncated": (gguf_seeds()[2][:700], "past the end"),
    "deep": (_kv_array(struct.pack("<IQ", 9, 1) * 20 + struct.pack("<IQ", 4, 0)), "nested deeper"),
    "huge-array": (_kv_array(struct.pack("<IQ", 8, 2**63)), "exceeds the limit"),
    "huge-tensor-count": (b"GGUF" + struct.pack("<IQQ", 3, 2**64 - 1, 0), "tensor count"),
}


@pytest.mark.parametrize("case", sorted(LOCAL))
def test_hostile_local_gguf_files_are_corrupt_headers(tmp_path: Path, case: str) -> None:
    data, words = LOCAL[case]
    path = tmp_path / "model.gguf"
    path.write_bytes(data)
    with pytest.raises(CorruptHeaderError, match=words):
        analyze_source(str(path), Options())


def test_a_fifo_named_model_gguf_is_refused_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "model.gguf")
    with pytest.raises(CorruptHeaderError, match="not a regular file"):
        analyze_source(str(tmp_path), Options())
