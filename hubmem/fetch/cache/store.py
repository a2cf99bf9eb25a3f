"""On-disk cache of what ``fetch_snapshot`` reads at a commit: config.json, the index, companions and
every safetensors header. All of these are immutable for a given commit sha, so an entry never goes
stale; a re-fetch of an unchanged repo costs only the revision resolution (one API request).

Keys are ``(endpoint, repo_id, sha, scope, path)``; ``scope`` is empty for public repos and a one-way
fingerprint of the token for gated or private ones, so one OS user's cache never hands a gated header
to a caller whose own credentials were not checked by the Hub for it (the revision request, which every
fetch makes, is what checks them).

Layout: ``<root>/v2/<2 hex>/<sha256 of the key>``, one entry per file (:mod:`hubmem.fetch.cache.files`:
the key, a checksum and the value; a torn, foreign, forged or otherwise invalid entry is a miss and is
overwritten by the next fetch). Files are opened as regular files only (a FIFO or device planted in the
folder is a miss, never a hang). Writes go to a temporary file in the same folder and are published with
``os.replace`` (atomic on POSIX and Windows), so a reader in another process sees the whole entry or
nothing. Reads bump the entry's mtime, and when the folder grows past ``max_bytes`` the least recently
used entries are deleted down to 80 % of it, under a ``filelock`` so that concurrent processes do not
evict together. A filesystem error (a folder that cannot be read or written, a full disk) turns the cache
off for the rest of the process, with one warning (:meth:`HeaderCache.take_warning`).

Besides the immutable entries, the cache remembers which commit a revision last resolved to and that a
snapshot there was complete (a *hint* only): ``fetch_snapshot`` then skips its speculative first wave.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from hubmem.fetch.cache.columns import stored_columns, stored_header
from hubmem.fetch.cache.files import (
    FORMAT,
    MAX_ENTRY_BYTES,
    cache_disabled_by_env,
    decode_entry,
    default_cache_dir,
    drop_entry,
    encode_entry,
    evict_lru,
    list_entries,
    max_bytes_from_env,
    publish,
)
from hubmem.fetch.ids import is_sha
from hubmem.formats.gguf.record import header_from_record
from hubmem.formats.json_reader import read_regular
from hubmem.formats.safetensors import MAX_HEADER_LENGTH, SafetensorsHeader
from hubmem.snapshot import WeightFile

_REF = "\0ref\0"
_COMPLETE = "\0complete\0"


class HeaderCacheStats(msgspec.Struct):
    """What the header cache did since it was opened."""

    hits: int = 0
    misses: int = 0
    writes: int = 0
    evicted: int = 0
    errors: int = 0  # unreadable / unwritable entries (the fetch then goes to the network)


class HeaderCache:
    """The cache folder. Thread-safe and safe across processes; every failure degrades to a miss, and a
    filesystem error turns the cache off (``broken``) with one warning."""

    def __init__(self, root: str | Path | None = None, *, max_bytes: int | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        self.max_bytes = max_bytes_from_env() if max_bytes is None else max(0, max_bytes)
        self.stats = HeaderCacheStats()
        self.broken: str | None = None  # why the cache was turned off (a filesystem error)
        self._warning: str | None = None  # the one warning about it, until taken
        self._dir = self.root / FORMAT
        self._lock = threading.Lock()
        self._size: int | None = None  # bytes on disk, estimated (None: not scanned yet)

    @classmethod
    def from_options(
        cls, cache_dir: str | Path | None = None, *, no_cache: bool = False
    ) -> HeaderCache | None:
        """What the CLI uses: None when disabled (``--no-cache`` or ``HUBMEM_CACHE=off``)."""
        if no_cache or (cache_dir is None and cache_disabled_by_env()):
            return None
        return cls(cache_dir)

    # -- keys and files ----------------------------------------------------------------------------

    @staticmethod
    def key(endpoint: str, repo_id: str, sha: str, scope: str, path: str) -> list[str]:
        return [endpoint.rstrip("/"), repo_id, sha, scope, path]

    def _file(self, key: list[str]) -> Path:
        digest = hashlib.sha256("\0".join(key).encode("utf-8", "surrogatepass")).hexdigest()
        return self._dir / digest[:2] / f"{digest[2:]}.json"

    def _fail(self, exc: OSError) -> None:
        """A filesystem error: no cache from now on, and one warning that says why."""
        with self._lock:
            if self.broken is not None:
                return
            self.broken = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
            self._warning = f"header cache in {self.root} turned off ({self.broken})"
        self._count("errors")

    def take_warning(self) -> str | None:
        """The warning about the cache turning off, once (None afterwards, or when it works)."""
        with self._lock:
            warning, self._warning = self._warning, None
        return warning

    def get(self, key: list[str]) -> dict[str, Any] | None:
        """The entry stored under ``key`` or None; bumps its mtime (LRU)."""
        if self.broken is not None:
            return None
        file = self._file(key)
        try:
            value = decode_entry(read_regular(file, MAX_ENTRY_BYTES), key)
        except FileNotFoundError:
            self._count("misses")
            return None
        except (OSError, ValueError):  # torn, foreign, forged, special or unreadable: drop it
            self._count("errors")
            self._drop(file)
            return None
        with contextlib.suppress(OSError):
            os.utime(file)
        self._count("hits")
        return value

    def _drop(self, file: Path) -> None:
        try:
            drop_entry(file)
        except OSError as exc:
            self._fail(exc)

    def discard(self, key: list[str]) -> None:
        """An entry that reads back but fails its kind's schema: counted as an error, dropped (a miss)."""
        self._count("errors")
        self._drop(self._file(key))

    def has(self, key: list[str]) -> bool:
        """Whether an entry is stored under ``key`` (nothing read, nothing counted)."""
        if self.broken is not None:
            return False
        try:
            return self._file(key).is_file()
        except OSError as exc:
            self._fail(exc)
            return False

    def put(self, key: list[str], value: dict[str, Any], blob: bytes | None = None) -> None:
        """Store ``value`` (and a binary ``blob``) under ``key`` (atomic rename; replaces any entry)."""
        if self.broken is not None:
            return
        try:
            data = encode_entry(key, value, blob)
        except (TypeError, ValueError):
            self._count("errors")
            return
        try:
            publish(self._file(key), data)
        except OSError as exc:
            self._fail(exc)
            return
        self._count("writes")
        self._grow(len(data))

    def _count(self, field: str, n: int = 1) -> None:
        with self._lock:
            setattr(self.stats, field, getattr(self.stats, field) + n)

    # -- size cap ----------------------------------------------------------------------------------

    def size_on_disk(self) -> int:
        try:
            return sum(size for _, size, _ in list_entries(self._dir))
        except OSError as exc:
            self._fail(exc)
            return 0

    def _grow(self, nbytes: int) -> None:
        if self.max_bytes <= 0:
            return
        with self._lock:
            known = self._size
            if known is not None:
                self._size = known + nbytes
        if known is None:  # first write: scan the folder once (outside the lock: it may fail)
            size = self.size_on_disk()
            with self._lock:
                self._size = size
        if (self._size or 0) > self.max_bytes:
            self.evict()

    def evict(self, target: int | None = None) -> int:
        """Delete least recently used entries until at most ``target`` bytes (80 % of the cap) remain.
        Returns the number deleted. Skips silently when another process is evicting right now."""
        target = int(self.max_bytes * 0.8) if target is None else target
        try:
            done = evict_lru(self._dir, target)
        except OSError as exc:
            self._fail(exc)
            return 0
        if done is None:
            return 0
        deleted, total = done
        with self._lock:
            self._size = total
        self._count("evicted", deleted)
        return deleted

    # -- what fetch_snapshot stores ------------------------------------------------------------------

    def commit(self, endpoint: str, repo_id: str, sha: str, scope: str = "") -> CommitCache:
        return CommitCache(self, endpoint, repo_id, sha, scope)

    def commit_for(
        self, endpoint: str, repo_id: str, sha: str, info: Mapping[str, Any], token_id: str | None
    ) -> CommitCache:
        """The entries at ``sha``: shared when ``info`` says not gated, not private; else the token's."""
        public = info.get("gated") is False and info.get("private") is False
        return self.commit(endpoint, repo_id, sha, "" if public else (token_id or "anonymous"))

    def remember_ref(
        self, endpoint: str, repo_id: str, revision: str, subfolder: str | None, sha: str, scope: str
    ) -> None:
        """Hint: ``revision`` resolved to ``sha`` and the snapshot there is fully cached."""
        self.put(
            self.key(endpoint, repo_id, "", "", _REF + revision + "\0" + (subfolder or "")),
            {"sha": sha, "scope": scope},
        )

    def complete_hint(
        self, endpoint: str, repo_id: str, revision: str, subfolder: str | None
    ) -> tuple[str, str] | None:
        """(sha, scope) of the complete snapshot the last fetch of this revision left here, or None (a hint:
        the revision may have moved since; then the fetch reads the new commit without speculation)."""
        hint = self.ref_hint(endpoint, repo_id, revision, subfolder)
        return hint if hint and self.commit(endpoint, repo_id, *hint).is_complete(subfolder) else None

    def ref_hint(
        self, endpoint: str, repo_id: str, revision: str, subfolder: str | None
    ) -> tuple[str, str] | None:
        """(sha, scope) that ``revision`` resolved to at the last complete fetch of it, or None (a hint)."""
        hint = self.get(self.key(endpoint, repo_id, "", "", _REF + revision + "\0" + (subfolder or "")))
        sha, scope = (hint or {}).get("sha"), (hint or {}).get("scope")
        if not isinstance(sha, str) or not is_sha(sha) or not isinstance(scope, str):
            return None
        return sha, scope


def _is_int(value: Any, low: int, high: int | None) -> bool:
    return type(value) is int and value >= low and (high is None or value <= high)


class CommitCache:
    """The entries of one repo at one commit (and one access scope)."""

    def __init__(self, cache: HeaderCache, endpoint: str, repo_id: str, sha: str, scope: str) -> None:
        self.cache = cache
        self.endpoint = endpoint
        self.repo_id = repo_id
        self.sha = sha
        self.scope = scope

    def entry_key(self, path: str) -> list[str]:
        return self.cache.key(self.endpoint, self.repo_id, self.sha, self.scope, path)

    def entry(self, path: str, kind: str) -> dict[str, Any] | None:
        value = self.cache.get(self.entry_key(path))
        if value is not None and value.get("kind") != kind:
            self.cache.discard(self.entry_key(path))
            return None
        return value

    def get_file(self, path: str) -> bytes | None:
        value = self.entry(path, "file")
        text, b64 = (None, None) if value is None else (value.get("text"), value.get("b64"))
        with contextlib.suppress(ValueError):
            if isinstance(text, str):
                return text.encode("utf-8")
            if isinstance(b64, str):
                return base64.b64decode(b64, validate=True)
        if value is not None:
            self.cache.discard(self.entry_key(path))
        return None

    def put_file(self, path: str, content: bytes) -> None:
        try:
            value: dict[str, Any] = {"kind": "file", "text": content.decode("utf-8")}
        except UnicodeDecodeError:
            value = {"kind": "file", "b64": base64.b64encode(content).decode("ascii")}
        self.cache.put(self.entry_key(path), value)

    def get_header(self, path: str) -> WeightFile | None:
        """The header stored for ``path`` (read at this commit), or None."""
        value = self.entry(path, "header")
        if value is None:
            return None
        n, size, gguf = value.get("header_length"), value.get("size"), value.get("format") == "gguf"
        header: SafetensorsHeader | dict[str, Any] | None = None
        if (
            isinstance(n, int)
            and _is_int(n, 2, MAX_HEADER_LENGTH)
            and (size is None or _is_int(size, 8 + n, None))
        ):
            header = value.get("header") if gguf else stored_header(value, path)
        if not isinstance(n, int) or not isinstance(header, dict | SafetensorsHeader):
            self.cache.discard(self.entry_key(path))  # a miss: the fetch reads it again and overwrites it
            return None
        if isinstance(header, dict):  # a GGUF record
            try:
                header_from_record(header)  # a record another version wrote, or a forged one: a miss
            except ValueError:
                self.cache.discard(self.entry_key(path))
                return None
        return WeightFile(path, n, header, size, self.sha, format="gguf" if gguf else "safetensors")

    def has_header(self, path: str) -> bool:
        return self.cache.has(self.entry_key(path))

    def put_header(self, f: WeightFile) -> None:
        """Keep ``f``'s header (safetensors JSON, or the GGUF header's record) under its path."""
        value: dict[str, Any] = {"kind": "header", "header_length": f.header_length, "size": f.size}
        blob = None
        if isinstance(f.header, SafetensorsHeader):
            blob = stored_columns(f.header, value)
        else:
            value |= {"header": f.header, "format": f.format}
        self.cache.put(self.entry_key(f.path), value, blob)

    def is_complete(self, subfolder: str | None) -> bool:
        return self.entry(_COMPLETE + (subfolder or ""), "complete") is not None

    def mark_complete(self, subfolder: str | None, paths: list[str]) -> None:
        self.cache.put(self.entry_key(_COMPLETE + (subfolder or "")), {"kind": "complete", "paths": paths})

    def remember_complete(self, revision: str, subfolder: str | None, paths: list[str]) -> None:
        """The snapshot at this commit is complete, and ``revision`` resolved here (the hint that lets
        the next fetch of ``revision`` skip its speculative reads)."""
        self.mark_complete(subfolder, paths)
        self.cache.remember_ref(self.endpoint, self.repo_id, revision, subfolder, self.sha, self.scope)
