"""The snapshot holds validated headers, not their decoded JSON (issue #13: peak RSS at 500k tensors), and
the compact forms behind it: the header cache's rows, names shared with the index, one object per shape,
per shard string and per tensor boundary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubmem.errors import CorruptHeaderError
from hubmem.fetch.cache.columns import decode_columns, encode_columns
from hubmem.fetch.cache.store import HeaderCache
from hubmem.fetch.layout import shards_of
from hubmem.fetch.local import load_local
from hubmem.formats.safetensors import (
    SafetensorsHeader,
    check_data_size,
    parse_header,
)
from hubmem.formats.safetensors_load import load_header
from hubmem.snapshot import WeightFile

SHA = "a" * 40


def _header(n: int, *, metadata: dict[str, str] | None = None) -> dict[str, object]:
    out: dict[str, object] = {} if metadata is None else {"__metadata__": metadata}
    for i in range(n):
        out[f"model.layers.{i}.w"] = {"dtype": "BF16", "shape": [4, 2], "data_offsets": [16 * i, 16 * i + 16]}
    return out


def test_cache_columns_round_trip_and_are_validated_like_a_file() -> None:
    parsed = parse_header(_header(3, metadata={"format": "pt"}), file="m.safetensors")
    blob = encode_columns(parsed.to_json())
    assert blob is not None
    again = parse_header(decode_columns(blob), file="m.safetensors")
    assert again.to_json() == parsed.to_json()
    assert again.metadata == {"format": "pt"} and again.data_end == 48
    forged = parsed.to_json()
    forged["model.layers.1.w"]["data_offsets"][1] += 2  # the bytes no longer match dtype x shape
    with pytest.raises(CorruptHeaderError, match=r"model\.layers\.1\.w"):
        parse_header(decode_columns(encode_columns(forged) or b""), file="m.safetensors")


def test_data_size_is_checked_after_parsing() -> None:
    parsed = load_header(json.dumps(_header(2)).encode(), file="m.safetensors")
    check_data_size(parsed, 32, file="m.safetensors")
    with pytest.raises(CorruptHeaderError, match="cover 32 bytes but the file holds 33"):
        check_data_size(parsed, 33, file="m.safetensors")


def test_shared_objects_shapes_boundaries_and_index_names() -> None:
    index_names = [f"model.layers.{i}.w" for i in range(3)]
    raw = json.dumps(_header(3)).encode()
    parsed = load_header(raw, names=index_names)
    a, b, c = parsed.tensors
    assert a.shape is b.shape is c.shape and a.numel is b.numel
    assert b.begin is a.end and c.begin is b.end  # contiguous: one integer object per boundary
    assert all(t.name is n for t, n in zip(parsed.tensors, index_names, strict=True))


def test_shards_of_holds_one_string_per_shard() -> None:
    index = {"weight_map": {f"t{i}": "model-00001-of-00002.safetensors" for i in range(50)}}
    index["weight_map"] |= {"u": "./model-00002-of-00002.safetensors"}
    shards = shards_of(index, "model.safetensors.index.json")
    assert list(shards) == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    values = list(index["weight_map"].values())
    assert len({id(v) for v in values[:50]}) == 1


def test_local_snapshot_and_cache_hold_validated_headers(tmp_path: Path) -> None:
    raw = json.dumps(_header(4)).encode()
    (tmp_path / "model.safetensors").write_bytes(len(raw).to_bytes(8, "little") + raw + bytes(64))
    snap = load_local(str(tmp_path / "model.safetensors"))
    f = snap.files[0]
    assert isinstance(f.header, SafetensorsHeader) and f.tensor_names() == list(_header(4))
    commit = HeaderCache(tmp_path / "cache").commit("https://hub", "org/m", SHA)
    commit.put_header(f)
    got = commit.get_header("model.safetensors")
    assert got is not None and got.safetensors.to_json() == f.safetensors.to_json()
    assert got.header_length == len(raw) and got.size == f.size


def test_a_gguf_record_is_not_a_safetensors_header() -> None:
    record = WeightFile("m.gguf", 10, {"tensors": [["token_embd.weight", 1, [4], 0, 8]]}, format="gguf")
    assert record.tensor_names() == ["token_embd.weight"]
    with pytest.raises(TypeError, match="not safetensors"):
        _ = record.safetensors


def test_the_repr_of_a_snapshot_leaves_out_headers_and_index(tmp_path: Path) -> None:
    """asyncio.run formats its main task's result on the way out (Python 3.11): a snapshot's repr must not
    write out 100k tensors or a 100k-entry weight_map."""
    from hubmem.snapshot import Snapshot

    header = parse_header(_header(2000), file="m.safetensors")
    weight_map = {t.name: "m.safetensors" for t in header.tensors}
    files = [WeightFile("m.safetensors", 100, header, 200)]
    snapshot = Snapshot("org/m", "main", SHA, "hub", index={"weight_map": weight_map}, files=files)
    assert len(repr(snapshot)) < 300 and len(repr(files[0])) < 200
    assert "model.layers" not in repr(snapshot) + repr(files[0])
