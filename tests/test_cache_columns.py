"""The header cache's columns form (hubmem.fetch.cache.columns): a safetensors header round-trips exactly
(key order included) through the cache's binary entry, headers that do not fit stay JSON, and a damaged or
inconsistent blob is a miss."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import pytest

from hubmem.errors import CorruptHeaderError
from hubmem.fakehub.fixtures.layout import default_fixtures_dir
from hubmem.fakehub.fixtures.store import FixtureStore
from hubmem.fetch.cache import columns
from hubmem.fetch.cache.columns import decode_columns, encode_columns
from hubmem.fetch.cache.store import HeaderCache
from hubmem.formats.safetensors import SafetensorsHeader, parse_header
from hubmem.snapshot import WeightFile

SHA = "4" * 40


def _entry(dtype: str, shape: list[int], begin: int, width: int = 2) -> dict[str, Any]:
    n = 1
    for d in shape:
        n *= d
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, begin + n * width]}


ODD = {  # metadata in the middle, a scalar, a zero-size tensor, non-ASCII names
    "b.weight": _entry("BF16", [4, 3], 0),
    "__metadata__": {"format": "pt", "note": "é"},
    "scalar": _entry("F32", [], 24, 4),
    "empty": _entry("F16", [0, 7], 28),
    "名前.weight": _entry("U8", [5], 28, 1),
}


@pytest.mark.parametrize("header", [ODD, {"w": _entry("F32", [2, 2], 0, 4)}, {"__metadata__": None}])
def test_columns_round_trip_exactly(header: dict[str, Any]) -> None:
    blob = encode_columns(header)
    assert blob is not None
    back = decode_columns(blob)
    assert back == header and list(back) == list(header)


@pytest.mark.parametrize(
    ("repo_id", "path"),
    [
        ("sentence-transformers/all-MiniLM-L6-v2", "model.safetensors"),  # the real header, byte-exact
        ("openai-community/gpt2", "model.safetensors"),  # unpadded, arbitrary tensor order
        ("deepseek-ai/DeepSeek-R1", "model-00005-of-000163.safetensors"),
    ],
)
def test_real_headers_round_trip(repo_id: str, path: str) -> None:
    repo = FixtureStore(default_fixtures_dir()).get(repo_id)
    assert repo is not None
    header = repo.files[path].header_json()
    assert header is not None
    blob = encode_columns(header)
    assert blob is not None and list(decode_columns(blob).items()) == list(header.items())


@pytest.mark.parametrize(
    ("odd", "valid"),
    [
        ({"w": {**_entry("F32", [2], 0, 4), "extra": 1}}, True),  # a key safetensors ignores
        ({"w\0x": _entry("F32", [2], 0, 4)}, True),  # NUL in a name
        ({"w": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}}, False),  # a bool, not an int
        ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 1 << 64]}}, False),  # beyond u64
        ({"w": [1, 2]}, False),  # not an object
    ],
)
def test_headers_that_do_not_fit_the_columns(odd: dict[str, Any], valid: bool, tmp_path: Path) -> None:
    """Raw headers the columns refuse: invalid ones never reach a snapshot (nor the cache); a valid one is
    cached as the columns of its validated form, or as JSON when even that does not fit (NUL in a name)."""
    assert encode_columns(odd) is None
    if not valid:
        with pytest.raises(CorruptHeaderError):
            parse_header(odd)
        return
    parsed = parse_header(odd)
    cache = HeaderCache(tmp_path).commit("https://hub.test", "org/x", SHA)
    cache.put_header(WeightFile("m.safetensors", 64, parsed, 100))
    got = cache.get_header("m.safetensors")
    assert got is not None and got.safetensors.to_json() == parsed.to_json()


def _entry_file(cache: HeaderCache) -> Path:
    (path,) = [p for p in (cache.root / "v2").rglob("*.json") if not p.name.startswith(".")]
    return path


def _rewrite(path: Path, body: bytes) -> None:
    """A new body under a matching checksum (a forged entry)."""
    head = json.loads(path.read_bytes().partition(b"\n")[0])
    head.update(bytes=len(body), sha256=hashlib.sha256(body).hexdigest())
    path.write_bytes(json.dumps(head).encode() + b"\n" + body)


def test_the_cache_stores_columns_and_reads_them_back(tmp_path: Path) -> None:
    root = HeaderCache(tmp_path)
    cache = root.commit("https://hub.test", "org/x", SHA)
    f = WeightFile("m.safetensors", 256, parse_header(ODD, file="m.safetensors"), 8 + 256 + 33, SHA)
    cache.put_header(f)
    head = json.loads(_entry_file(root).read_bytes().partition(b"\n")[0])
    assert head["blob"] == {"kind": "header", "header_length": 256, "size": 297}
    assert cache.get_header("m.safetensors") == f
    assert root.stats.hits == 1 and root.stats.errors == 0


@pytest.mark.parametrize(
    "damage", ["flipped byte", "forged: short dims", "forged: bad magic", "forged: name"]
)
def test_a_damaged_columns_entry_is_a_miss(tmp_path: Path, damage: str) -> None:
    root = HeaderCache(tmp_path)
    cache = root.commit("https://hub.test", "org/x", SHA)
    cache.put_header(WeightFile("m.safetensors", 256, parse_header(ODD), 297, SHA))
    path = _entry_file(root)
    head, _, body = path.read_bytes().partition(b"\n")
    if damage == "flipped byte":  # the checksum no longer matches
        path.write_bytes(head + b"\n" + body[:-1] + bytes([body[-1] ^ 1]))
    elif damage == "forged: short dims":
        _rewrite(path, body[:-8])
    elif damage == "forged: bad magic":
        _rewrite(path, b"XXXX" + body[4:])
    else:  # a tensor named __metadata__ besides the real one: the rebuilt header would differ
        blob = encode_columns({"__metadata__": {}, "w": _entry("F32", [1], 0, 4)})
        assert blob is not None
        _rewrite(path, blob.replace(struct.pack("<I", 2) + b"w\0", struct.pack("<I", 13) + b"__metadata__\0"))
    assert cache.get_header("m.safetensors") is None
    assert root.stats.errors == 1 and not path.exists()


def _both_ways(header: dict[str, Any]) -> tuple[object, object, bool]:
    """(stored_header's answer, parse_header's answer on the rebuilt dict, whether the direct path took it):
    a header, or the CorruptHeaderError message, or None for a blob that is no header."""
    blob = encode_columns(header)
    assert blob is not None
    direct = columns._checked_tensors(columns._read_columns(blob), "m.safetensors") is not None
    try:
        via_dict: object = parse_header(decode_columns(blob), file="m.safetensors")
    except CorruptHeaderError as exc:
        via_dict = exc.message
    got = columns.stored_header({"blob": blob}, "m.safetensors")
    return got, via_dict, direct


HOLE = {"a": _entry("F32", [2], 0, 4), "b": _entry("F32", [2], 12, 4)}
ODD_DTYPE = {"a": _entry("float32", [2], 0, 4)}  # an alias name: parse_header canonicalises it
BAD_SIZE = {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}
UNKNOWN = {"a": _entry("Q9", [2], 0, 4)}
NAMED_METADATA = {"__metadata__": {"format": "pt"}, "a": _entry("F32", [2], 0, 4)}
META_NOT_STRINGS = {"__metadata__": {"n": 1}, "a": _entry("F32", [2], 0, 4)}


@pytest.mark.parametrize(
    ("header", "direct"),
    [
        (ODD, True),
        (NAMED_METADATA, True),
        ({"__metadata__": None}, True),
        ({"w": _entry("F32", [2, 2], 0, 4)}, True),
        ({"z": _entry("F32", [2], 8, 4), "a": _entry("F32", [2], 0, 4)}, True),  # out of offset order
        (HOLE, True),  # each entry fine: the tiling check refuses it, with parse_header's message
        (ODD_DTYPE, False),
        (BAD_SIZE, False),
        (UNKNOWN, False),
        (META_NOT_STRINGS, False),
    ],
)
def test_cached_header_read_directly_from_the_columns_equals_parse_header(
    header: dict[str, Any], direct: bool
) -> None:
    """A cached header is validated straight from its columns (no dict rebuilt) when every entry is plain;
    anything unusual goes through parse_header. Either way the answer is parse_header's: the same tensors
    (offset order, shared shapes), the same metadata, or a miss where parse_header raises."""
    got, via_dict, took = _both_ways(header)
    assert took is direct
    if isinstance(via_dict, str):
        assert got is None
    else:
        assert got == via_dict


@pytest.mark.parametrize(
    ("repo_id", "path"),
    [
        ("sentence-transformers/all-MiniLM-L6-v2", "model.safetensors"),
        ("openai-community/gpt2", "model.safetensors"),
        ("deepseek-ai/DeepSeek-R1", "model-00005-of-000163.safetensors"),
    ],
)
def test_real_cached_headers_take_the_direct_path(repo_id: str, path: str) -> None:
    repo = FixtureStore(default_fixtures_dir()).get(repo_id)
    assert repo is not None
    header = repo.files[path].header_json()
    assert header is not None
    got, via_dict, took = _both_ways(header)
    assert took and isinstance(got, SafetensorsHeader) and got == via_dict
    assert [t.name for t in got.tensors] == [t.name for t in parse_header(header).tensors]
