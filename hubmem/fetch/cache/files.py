"""The header cache's files: one entry per file, the checks that make a damaged or forged entry a miss,
and the least-recently-used eviction over the folder.

An entry file is one line of JSON naming what it holds, then the value as compact JSON::

    {"key": [endpoint, repo, sha, scope, path], "bytes": <length of the value>, "sha256": "<hex>"}\n
    {"kind": "header", ...}

or, for a safetensors header stored as columns (:mod:`hubmem.fetch.cache.columns`), the value in the head
(``"blob": {"kind": "header", ...}``) and the binary columns as the body, under the same checksum.

The checksum covers the value's bytes exactly as written, so a torn, truncated or edited entry never
parses into something else; the value is then read by the bounded JSON reader (depth, numbers, size) like
any other JSON hubmem reads, and each kind of value is checked against its schema by the reader of that
kind (:class:`hubmem.fetch.cache.store.CommitCache`). Anything that fails is a miss, and the next fetch
overwrites it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import filelock

from hubmem.formats.json_reader import load_json
from hubmem.formats.safetensors import MAX_HEADER_LENGTH

ENV_DIR = "HUBMEM_CACHE"  # cache folder; "off" / "0" / "none" / "false" disables the cache
ENV_MAX_BYTES = "HUBMEM_CACHE_MAX_BYTES"
DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB
_OFF = frozenset({"off", "0", "none", "false", "no", "disabled"})


def default_cache_dir() -> Path:
    """``$HUBMEM_CACHE``, else the platform's user cache folder (``~/.cache/hubmem`` on Linux)."""
    env = os.environ.get(ENV_DIR, "").strip()
    if env and env.lower() not in _OFF:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("hubmem", appauthor=False))


def cache_disabled_by_env() -> bool:
    return os.environ.get(ENV_DIR, "").strip().lower() in _OFF


def max_bytes_from_env() -> int:
    raw = os.environ.get(ENV_MAX_BYTES, "").strip()
    try:
        return max(0, int(raw)) if raw else DEFAULT_MAX_BYTES
    except ValueError:
        return DEFAULT_MAX_BYTES


FORMAT = "v2"  # the folder below the cache root; v1 entries (no checksum) are never read
MAX_ENTRY_BYTES = 4 * MAX_HEADER_LENGTH  # a header stored as text, escapes included, fits with room
_MAX_HEAD_BYTES = 64 * 1024  # the first line: the key and the checksum


def encode_entry(key: list[str], value: dict[str, Any], blob: bytes | None = None) -> bytes:
    """The bytes of an entry (``ValueError`` / ``TypeError`` when ``value`` is not JSON). With ``blob``,
    the body is ``blob`` (checksummed the same way) and ``value``, small, goes into the head."""
    if blob is None:
        body = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    else:
        body = blob
    head: dict[str, Any] = {"key": key, "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    if blob is not None:
        head["blob"] = value
    return json.dumps(head, separators=(",", ":"), allow_nan=False).encode("utf-8") + b"\n" + body


def decode_entry(data: bytes, key: list[str]) -> dict[str, Any]:
    """The value stored under ``key``; ``ValueError`` when the entry is torn, foreign or damaged."""
    first, newline, body = data.partition(b"\n")
    if not newline or len(first) > _MAX_HEAD_BYTES:
        raise ValueError("no entry head")
    head = load_json(first, max_bytes=_MAX_HEAD_BYTES)
    if not isinstance(head, dict) or head.get("key") != key:
        raise ValueError("an entry of another key")
    if head.get("bytes") != len(body) or head.get("sha256") != hashlib.sha256(body).hexdigest():
        raise ValueError("the checksum does not match")
    if "blob" in head:  # a binary body (the columns of a header): its value is in the head
        value = head["blob"]
        if not isinstance(value, dict):
            raise ValueError("the value is not an object")
        return {**value, "blob": body}
    value = load_json(body, max_bytes=MAX_ENTRY_BYTES, bom=False)
    if not isinstance(value, dict):
        raise ValueError("the value is not an object")
    return value


def list_entries(folder: Path) -> list[tuple[float, int, Path]]:
    """(mtime, size, path) of every entry below ``folder`` (``OSError`` when it cannot be listed)."""
    out: list[tuple[float, int, Path]] = []
    if not folder.is_dir():
        return out
    for sub in os.scandir(folder):
        if not sub.is_dir(follow_symlinks=False):
            continue
        for entry in os.scandir(sub.path):
            if entry.name.endswith(".json"):
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                out.append((st.st_mtime, st.st_size, Path(entry.path)))
    return out


def evict_lru(folder: Path, target: int) -> tuple[int, int] | None:
    """Delete the least recently used entries until at most ``target`` bytes remain: (deleted, bytes left),
    or None when another process is evicting right now. ``OSError`` when the folder is unusable."""
    folder.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(folder / ".evict.lock"))
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        return None
    try:
        deleted = 0
        entries = sorted(list_entries(folder))
        total = sum(size for _, size, _ in entries)
        for _, size, path in entries:
            if total <= target:
                break
            with contextlib.suppress(OSError):
                path.unlink()
                deleted += 1
            total -= size
        return deleted, total
    finally:
        lock.release()


def drop_entry(file: Path) -> None:
    """Remove a bad entry (a folder planted under an entry's name included); ``OSError`` if that fails."""
    try:
        if file.is_dir() and not file.is_symlink():
            shutil.rmtree(file)
        else:
            file.unlink()
    except FileNotFoundError:
        pass


def publish(file: Path, data: bytes) -> None:
    """Write an entry atomically: a temporary file in the same folder, then ``os.replace`` (a folder
    planted under the entry's name is removed first). ``OSError`` when the folder is unusable."""
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        try:
            os.replace(tmp, file)
        except IsADirectoryError:
            drop_entry(file)
            os.replace(tmp, file)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
