"""On-disk cache of what ``fetch_snapshot`` reads at a commit: config.json, the index, companions and
every safetensors header. All of these are immutable for a given commit sha, so an entry never goes
stale; a re-fetch of an unchanged repo costs only the revision resolution (one API request).

Keys are ``(endpoint, repo_id, sha, scope, path)``; ``scope`` is empty for public repos and a one-way
fingerprint of the token for gated or private ones, so one OS user's cache never hands a gated header
to a caller whose own credentials were not checked by the Hub for it (the revision request, which every
fetch makes, is what checks them).

Layout: ``<root>/v1/<2 hex>/<sha256 of the key>.json``, one JSON document per entry (the key is stored
inside and checked on read). Writes go to a temporary file in the same folder and are published with
``os.replace`` (atomic on POSIX and Windows), so a reader in another process sees the whole entry or
nothing; a damaged entry (power loss without fsync) fails to parse and is dropped. Reads bump the
entry's mtime, and when the folder grows past ``max_bytes`` the least recently used entries are
deleted down to 80 % of it, under a ``filelock`` so that concurrent processes do not evict together.

Besides the immutable entries, the cache remembers which commit a revision last resolved to and that
a snapshot at that commit was complete (a *hint* only): ``fetch_snapshot`` then skips its speculative
first wave, whose reads would be served from here anyway, and waits for the revision answer instead.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock

from hubmem.snapshot import WeightFile

ENV_DIR = "HUBMEM_CACHE"  # cache folder; "off" / "0" / "none" / "false" disables the cache
ENV_MAX_BYTES = "HUBMEM_CACHE_MAX_BYTES"
DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB
FORMAT = "v1"
_OFF = frozenset({"off", "0", "none", "false", "no", "disabled"})
_REF = "\0ref\0"
_COMPLETE = "\0complete\0"


def default_cache_dir() -> Path:
    """``$HUBMEM_CACHE``, else the platform's user cache folder (``~/.cache/hubmem`` on Linux)."""
    env = os.environ.get(ENV_DIR, "").strip()
    if env and env.lower() not in _OFF:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("hubmem", appauthor=False))


def cache_disabled_by_env() -> bool:
    return os.environ.get(ENV_DIR, "").strip().lower() in _OFF


def _max_bytes_from_env() -> int:
    raw = os.environ.get(ENV_MAX_BYTES, "").strip()
    try:
        return max(0, int(raw)) if raw else DEFAULT_MAX_BYTES
    except ValueError:
        return DEFAULT_MAX_BYTES


@dataclass
class HeaderCacheStats:
    """What the header cache did since it was opened."""

    hits: int = 0
    misses: int = 0
    writes: int = 0
    evicted: int = 0
    errors: int = 0  # unreadable / unwritable entries (the fetch then goes to the network)


class HeaderCache:
    """The cache folder. Thread-safe and safe across processes; every failure degrades to a miss."""

    def __init__(self, root: str | Path | None = None, *, max_bytes: int | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        self.max_bytes = _max_bytes_from_env() if max_bytes is None else max(0, max_bytes)
        self.stats = HeaderCacheStats()
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

    def get(self, key: list[str]) -> dict[str, Any] | None:
        """The entry stored under ``key`` or None; bumps its mtime (LRU)."""
        file = self._file(key)
        try:
            raw = file.read_bytes()
        except OSError:
            self._count("misses")
            return None
        try:
            doc = json.loads(raw)
            if not isinstance(doc, dict) or doc.get("key") != key or not isinstance(doc.get("value"), dict):
                raise ValueError("foreign or damaged entry")
        except ValueError:
            self._count("errors")
            with contextlib.suppress(OSError):
                file.unlink()
            return None
        with contextlib.suppress(OSError):
            os.utime(file)
        self._count("hits")
        value: dict[str, Any] = doc["value"]
        return value

    def has(self, key: list[str]) -> bool:
        """Whether an entry is stored under ``key`` (nothing read, nothing counted)."""
        return self._file(key).is_file()

    def put(self, key: list[str], value: dict[str, Any]) -> None:
        """Store ``value`` under ``key`` (atomic rename; replaces an existing entry)."""
        file = self._file(key)
        try:
            data = json.dumps({"key": key, "value": value}, separators=(",", ":"), ensure_ascii=False).encode(
                "utf-8", "surrogatepass"
            )
            file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                os.replace(tmp, file)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except (OSError, TypeError, ValueError):
            self._count("errors")
            return
        self._count("writes")
        self._grow(len(data))

    def _count(self, field: str, n: int = 1) -> None:
        with self._lock:
            setattr(self.stats, field, getattr(self.stats, field) + n)

    # -- size cap ----------------------------------------------------------------------------------

    def _entries(self) -> list[tuple[float, int, Path]]:
        out: list[tuple[float, int, Path]] = []
        if not self._dir.is_dir():
            return out
        for sub in os.scandir(self._dir):
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

    def size_on_disk(self) -> int:
        return sum(size for _, size, _ in self._entries())

    def _grow(self, nbytes: int) -> None:
        if self.max_bytes <= 0:
            return
        with self._lock:
            if self._size is None:
                self._size = self.size_on_disk()
            else:
                self._size += nbytes
            over = self._size > self.max_bytes
        if over:
            self.evict()

    def evict(self, target: int | None = None) -> int:
        """Delete least recently used entries until at most ``target`` bytes (80 % of the cap) remain.
        Returns the number deleted. Skips silently when another process is evicting right now."""
        target = int(self.max_bytes * 0.8) if target is None else target
        self._dir.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(self._dir / ".evict.lock"))
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            return 0
        deleted = 0
        try:
            entries = sorted(self._entries())
            total = sum(size for _, size, _ in entries)
            for _, size, path in entries:
                if total <= target:
                    break
                with contextlib.suppress(OSError):
                    path.unlink()
                    deleted += 1
                total -= size
            with self._lock:
                self._size = total
        finally:
            lock.release()
        self._count("evicted", deleted)
        return deleted

    # -- what fetch_snapshot stores ------------------------------------------------------------------

    def commit(self, endpoint: str, repo_id: str, sha: str, scope: str = "") -> CommitCache:
        return CommitCache(self, endpoint, repo_id, sha, scope)

    def commit_for(
        self, endpoint: str, repo_id: str, sha: str, info: Mapping[str, Any], token_id: str | None
    ) -> CommitCache:
        """The entries at ``sha``: shared when the revision ``info`` says the repo is neither gated nor
        private, else scoped to the token (``token_id``) that the Hub just checked."""
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

    def expect_complete(self, endpoint: str, repo_id: str, revision: str, subfolder: str | None) -> bool:
        """Whether the last fetch of this revision left a complete snapshot here (a hint: the
        revision may have moved since; then the fetch reads the new commit without speculation)."""
        hint = self.get(self.key(endpoint, repo_id, "", "", _REF + revision + "\0" + (subfolder or "")))
        if not hint or not isinstance(hint.get("sha"), str):
            return False
        scope = hint.get("scope") if isinstance(hint.get("scope"), str) else ""
        return self.commit(endpoint, repo_id, hint["sha"], str(scope)).is_complete(subfolder)


class CommitCache:
    """The entries of one repo at one commit (and one access scope)."""

    def __init__(self, cache: HeaderCache, endpoint: str, repo_id: str, sha: str, scope: str) -> None:
        self.cache = cache
        self.endpoint = endpoint
        self.repo_id = repo_id
        self.sha = sha
        self.scope = scope

    def _key(self, path: str) -> list[str]:
        return self.cache.key(self.endpoint, self.repo_id, self.sha, self.scope, path)

    def get_file(self, path: str) -> bytes | None:
        value = self.cache.get(self._key(path))
        if value is None or value.get("kind") != "file":
            return None
        try:
            if isinstance(value.get("text"), str):
                return str(value["text"]).encode("utf-8")
            return base64.b64decode(str(value["b64"]))
        except (KeyError, ValueError):
            return None

    def put_file(self, path: str, content: bytes) -> None:
        try:
            value: dict[str, Any] = {"kind": "file", "text": content.decode("utf-8")}
        except UnicodeDecodeError:
            value = {"kind": "file", "b64": base64.b64encode(content).decode("ascii")}
        self.cache.put(self._key(path), value)

    def get_header(self, path: str) -> WeightFile | None:
        """The header stored for ``path`` (read at this commit), or None."""
        value = self.cache.get(self._key(path))
        if value is None or value.get("kind") != "header":
            return None
        n, header, size = value.get("header_length"), value.get("header"), value.get("size")
        if (
            not isinstance(n, int)
            or not isinstance(header, dict)
            or not (size is None or isinstance(size, int))
        ):
            return None
        if value.get("format") == "gguf":
            return WeightFile(path, n, header, size, self.sha, format="gguf")
        return WeightFile(path, n, header, size, self.sha)

    def has_header(self, path: str) -> bool:
        return self.cache.has(self._key(path))

    def put_header(self, f: WeightFile) -> None:
        """Keep ``f``'s header (safetensors JSON, or the GGUF header's record) under its path."""
        value = {"kind": "header", "header_length": f.header_length, "header": f.header, "size": f.size}
        if f.format != "safetensors":
            value["format"] = f.format
        self.cache.put(self._key(f.path), value)

    def is_complete(self, subfolder: str | None) -> bool:
        value = self.cache.get(self._key(_COMPLETE + (subfolder or "")))
        return bool(value and value.get("kind") == "complete")

    def mark_complete(self, subfolder: str | None, paths: list[str]) -> None:
        self.cache.put(self._key(_COMPLETE + (subfolder or "")), {"kind": "complete", "paths": paths})

    def remember_complete(self, revision: str, subfolder: str | None, paths: list[str]) -> None:
        """The snapshot at this commit is complete, and ``revision`` resolved here (the hint that lets
        the next fetch of ``revision`` skip its speculative reads)."""
        self.mark_complete(subfolder, paths)
        self.cache.remember_ref(self.endpoint, self.repo_id, revision, subfolder, self.sha, self.scope)
