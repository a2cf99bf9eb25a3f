"""Issue #10 item 7: the header cache checks every entry (checksum of what it caches, then its schema),
treats a bad one as a miss and overwrites it, never hangs on a special file, and turns itself off with one
warning on a filesystem error. End to end: fetches against the fake Hub over real sockets."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from hubmem.fakehub.fixtures.layout import write_tokens
from hubmem.fakehub.server import FakeHub
from hubmem.fetch.cache.files import decode_entry, encode_entry
from hubmem.fetch.cache.store import HeaderCache
from hubmem.fetch.http.client import HubClient
from hubmem.fetch.hub import fetch_snapshot
from hubmem.pipeline import build_report
from hubmem.snapshot import Snapshot

from support.scan_samples import Expected, write_llama

pytestmark = pytest.mark.e2e

SHA = "1" * 40
DEEP = "[" * 1000 + "]" * 1000


@pytest.fixture
def hub(tmp_path: Path, make_fake_hub: Callable[..., FakeHub]) -> tuple[FakeHub, dict[str, Expected]]:
    root = tmp_path / "fixtures"
    write_tokens(root)
    expected = {
        "org/single": write_llama(root, "org/single"),
        "org/sharded": write_llama(root, "org/sharded", shards=3),
    }
    return make_fake_hub(root), expected


async def fetch(hub: FakeHub, repo_id: str, cache: HeaderCache) -> Snapshot:
    async with HubClient(endpoint=hub.endpoint, token=False) as client:
        return await asyncio.wait_for(fetch_snapshot(client, repo_id, cache=cache), timeout=30)


def entry_files(cache: HeaderCache) -> list[Path]:
    return sorted(p for p in (cache.root / "v2").rglob("*.json") if not p.name.startswith("."))


def forge(path: Path, value_bytes: bytes, *, checksum_of: bytes | None = None) -> None:
    """Rewrite an entry's value, keeping its key (and, with ``checksum_of``, a checksum of other bytes)."""
    head = json.loads(path.read_bytes().partition(b"\n")[0])
    signed = value_bytes if checksum_of is None else checksum_of
    head.update(bytes=len(signed), sha256=hashlib.sha256(signed).hexdigest())
    path.write_bytes(json.dumps(head).encode() + b"\n" + value_bytes)


def check_report(snapshot: Snapshot, expected: Expected) -> None:
    assert build_report(snapshot).weights.total_bytes == expected.total_bytes


@pytest.mark.parametrize("repo_id", ["org/single", "org/sharded"])
@pytest.mark.parametrize(
    "damage",
    ["deep", "edited value", "forged checksum, invalid schema", "torn", "fifo", "folder", "empty"],
)
async def test_a_bad_entry_is_a_miss_and_is_overwritten(
    hub: tuple[FakeHub, dict[str, Expected]], tmp_path: Path, repo_id: str, damage: str
) -> None:
    fake, expected = hub
    cache = HeaderCache(tmp_path / "cache")
    check_report(await fetch(fake, repo_id, cache), expected[repo_id])
    files = entry_files(cache)
    assert files
    for path in files:
        value = path.read_bytes().partition(b"\n")[2]
        if damage == "deep":
            body = ('{"kind": "header", "header": ' + DEEP + "}").encode()
            forge(path, body)
        elif damage == "edited value":  # a changed shape or size without a new checksum
            forge(path, value.replace(b'"size":', b'"size":1').replace(b"[", b"[9,", 1), checksum_of=value)
        elif damage == "forged checksum, invalid schema":
            forge(path, b'{"kind": "header", "header_length": "x", "header": [], "size": -1, "text": 5}')
        elif damage == "torn":
            path.write_bytes(path.read_bytes()[:-7])
        elif damage in ("fifo", "folder", "empty"):
            path.unlink()
            {"fifo": os.mkfifo, "folder": os.mkdir, "empty": lambda p: Path(p).write_bytes(b"")}[damage](path)
    again = await fetch(fake, repo_id, cache)  # never hangs (wait_for), never raises
    check_report(again, expected[repo_id])
    assert cache.stats.errors >= 1 and cache.broken is None
    if damage != "folder":  # a folder under an entry's name cannot be replaced by a file; it stays a miss
        assert all(
            decode_entry(p.read_bytes(), json.loads(p.read_bytes().partition(b"\n")[0])["key"]) for p in files
        )
    third = await fetch(fake, repo_id, cache)
    assert third.stats.cache_hits > 0 or damage == "folder"


@pytest.mark.parametrize("repo_id", ["org/single", "org/sharded"])
async def test_a_filesystem_error_turns_the_cache_off_with_one_warning(
    hub: tuple[FakeHub, dict[str, Expected]], tmp_path: Path, repo_id: str
) -> None:
    fake, expected = hub
    root = tmp_path / "cache"
    root.mkdir()
    (root / "v2").write_text("not a folder")  # every read and write below it fails (ENOTDIR)
    cache = HeaderCache(root)
    first = await fetch(fake, repo_id, cache)
    check_report(first, expected[repo_id])
    assert [w for w in first.warnings if "header cache" in w] == [
        f"header cache in {root} turned off ({cache.broken})"
    ]
    second = await fetch(fake, repo_id, cache)
    check_report(second, expected[repo_id])
    assert not [w for w in second.warnings if "header cache" in w]  # one warning, not one per fetch


async def test_an_unreadable_subfolder_does_not_crash_a_sharded_fetch(
    hub: tuple[FakeHub, dict[str, Expected]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a non-root user sees a folder without permissions (the test suite may run as root)."""
    fake, expected = hub
    cache = HeaderCache(tmp_path / "cache")
    await fetch(fake, "org/sharded", cache)
    real_is_file, real_open = Path.is_file, os.open

    def is_file(self: Path) -> bool:
        if self.is_relative_to(cache.root):
            raise PermissionError(13, "Permission denied", str(self))
        return real_is_file(self)

    def os_open(path: str | os.PathLike[str], *args: int) -> int:
        if Path(path).is_relative_to(cache.root):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args)

    monkeypatch.setattr(Path, "is_file", is_file)
    monkeypatch.setattr(os, "open", os_open)
    snapshot = await fetch(fake, "org/sharded", cache)
    check_report(snapshot, expected["org/sharded"])
    assert cache.broken is not None and "Permission denied" in cache.broken
    assert sum("header cache" in w for w in snapshot.warnings) == 1


def test_entries_carry_a_checksum_of_their_value() -> None:
    key = ["e", "org/x", SHA, "", "config.json"]
    data = encode_entry(key, {"kind": "file", "text": "{}"})
    assert decode_entry(data, key) == {"kind": "file", "text": "{}"}
    for bad in (data.replace(b"{}", b"[]"), data.replace(b'"org/x"', b'"org/y"'), data[:-1], b"", b"\n"):
        with pytest.raises(ValueError):
            decode_entry(bad, key)
