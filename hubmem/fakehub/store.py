"""Loads fixtures/ (see layout.py) into repos whose files are served as virtual byte streams."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import math
import re
import struct
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from hubmem.fakehub.layout import (
    DEFAULT_TOKENS,
    FILES_DIR,
    HEADERS_DIR,
    REPO_JSON,
    REPOS_DIR,
    TOKENS_FILE,
)
from hubmem.fakehub.vfile import Segment, VirtualFile

log = logging.getLogger("hubmem.fakehub")

HEX40 = re.compile(r"[0-9a-f]{40}")
LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n"


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class Token:
    token: str
    user: str
    gated_access: tuple[str, ...] = ()
    private_access: tuple[str, ...] = ()
    orgs: tuple[str, ...] = ()

    def can_access_gated(self, repo_id: str) -> bool:
        return "*" in self.gated_access or repo_id in self.gated_access

    def can_read_private(self, repo_id: str) -> bool:
        namespace = repo_id.split("/")[0] if "/" in repo_id else None
        return (
            "*" in self.private_access
            or repo_id in self.private_access
            or (namespace is not None and (namespace == self.user or namespace in self.orgs))
        )


@dataclass
class RepoFile:
    repo_id: str
    path: str
    size: int
    lfs: bool
    stored: Path | None = None  # files/<path>
    header_file: Path | None = None  # headers/<path>.json[.gz]
    header_length: int | None = None  # synthetic header ('{' + spaces) when no header_file

    @cached_property
    def content(self) -> VirtualFile:
        if self.stored is not None:
            return VirtualFile(self.size, [Segment(self.size, self.stored.read_bytes())])
        header = self.header_bytes
        if header is not None:
            return VirtualFile(self.size, [Segment(8 + len(header), struct.pack("<Q", len(header)) + header)])
        if self.header_length is not None:
            n = self.header_length
            prefix = struct.pack("<Q", n) + (b"{" if n > 0 else b"")
            return VirtualFile(self.size, [Segment(len(prefix), prefix), Segment(max(n - 1, 0), fill=0x20)])
        return VirtualFile(self.size, [])  # zeros

    @cached_property
    def header_bytes(self) -> bytes | None:
        if self.header_file is None:
            return None
        raw = self.header_file.read_bytes()
        return gzip.decompress(raw) if self.header_file.name.endswith(".gz") else raw

    def header_json(self) -> dict[str, Any] | None:
        """The parsed safetensors header, or None when there is none (or it does not parse)."""
        raw = self.header_bytes
        if raw is None:
            return None
        try:
            obj = json.loads(raw.decode("utf-8", errors="ignore"))
        except ValueError:
            return None
        return obj if isinstance(obj, dict) else None

    @cached_property
    def lfs_oid(self) -> str:
        """sha256 of the content: real for fully stored files, a stable stand-in for virtual ones."""
        if self.stored is not None:
            return hashlib.sha256(self.stored.read_bytes()).hexdigest()
        return hashlib.sha256(
            f"hubmem-virtual\0{self.repo_id}\0{self.path}\0{self.size}".encode()
        ).hexdigest()

    @cached_property
    def pointer(self) -> bytes:
        return LFS_POINTER.format(oid=self.lfs_oid, size=self.size).encode()

    @cached_property
    def git_oid(self) -> str:
        """Git blob sha1: of the pointer for LFS files, of the content otherwise."""
        if self.lfs:
            return git_blob_sha1(self.pointer)
        return git_blob_sha1(self.content.read())

    def entry(self, *, expand: bool = False, commit: str | None = None) -> dict[str, Any]:
        """Tree / paths-info entry (hub-protocol 1.8)."""
        out: dict[str, Any] = {"type": "file", "oid": self.git_oid, "size": self.size, "path": self.path}
        if self.lfs:
            out["lfs"] = {"oid": self.lfs_oid, "size": self.size, "pointerSize": len(self.pointer)}
        if expand:
            out["lastCommit"] = last_commit(commit, self.path)
            out["securityFileStatus"] = {
                "status": "safe",
                "avScan": {"virusFound": False, "virusNames": None},
                "pickleImportScan": None,
            }
        return out

    def sibling(self, *, blobs: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"rfilename": self.path}
        if blobs:
            out["blobId"] = self.git_oid
            out["size"] = self.size
            if self.lfs:
                out["lfs"] = {"sha256": self.lfs_oid, "size": self.size, "pointerSize": len(self.pointer)}
        return out


def last_commit(commit: str | None, path: str) -> dict[str, Any]:
    return {"id": commit or "0" * 40, "title": f"Upload {path}", "date": "2025-01-01T00:00:00.000Z"}


def dir_entry(path: str, *, expand: bool = False, commit: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0}
    out["path"] = path
    if expand:
        out["lastCommit"] = last_commit(commit, path)
    return out


@dataclass
class Repo:
    repo_id: str
    sha: str
    root: Path
    gated: bool | str = False
    private: bool = False
    disabled: bool = False
    refs: dict[str, str] = field(default_factory=dict)
    files: dict[str, RepoFile] = field(default_factory=dict)
    hub: dict[str, Any] = field(default_factory=dict)
    notes: str = ""

    @property
    def object_id(self) -> str:
        """A Mongo-style 24-hex id (``_id`` in the API, path component on the CDN)."""
        return hashlib.sha1(self.repo_id.encode()).hexdigest()[:24]

    @property
    def commits(self) -> set[str]:
        return {self.sha, *self.refs.values()}

    def resolve_revision(self, rev: str) -> str | None:
        """Branch, tag, ``refs/pr/N``, ``HEAD``, ``refs/heads|tags/x`` or a known 40-hex sha -> sha."""
        if rev in self.refs:
            return self.refs[rev]
        if rev == "HEAD":
            return self.refs.get("main", self.sha)
        for prefix in ("refs/heads/", "refs/tags/"):
            if rev.startswith(prefix) and rev[len(prefix) :] in self.refs:
                return self.refs[rev[len(prefix) :]]
        if HEX40.fullmatch(rev) and rev in self.commits:
            return rev
        return None

    @cached_property
    def directories(self) -> set[str]:
        dirs: set[str] = set()
        for path in self.files:
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add("/".join(parts[:i]))
        return dirs

    def tree(
        self, path: str, *, recursive: bool, expand: bool = False, commit: str | None = None
    ) -> list[dict[str, Any]] | None:
        """Entries under ``path`` ('' = root), sorted by path; None when ``path`` is not a folder."""
        path = path.strip("/")
        if path and path not in self.directories:
            return None
        prefix = f"{path}/" if path else ""
        names: set[str] = set()
        for p in [*self.files, *self.directories]:
            if not p.startswith(prefix) or p == path:
                continue
            if recursive or "/" not in p[len(prefix) :]:
                names.add(p)
        return [self.entry(p, expand=expand, commit=commit) for p in sorted(names)]

    def entry(self, path: str, *, expand: bool = False, commit: str | None = None) -> dict[str, Any]:
        f = self.files.get(path)
        if f is not None:
            return f.entry(expand=expand, commit=commit)
        return dir_entry(path, expand=expand, commit=commit)

    def exists(self, path: str) -> bool:
        return path in self.files or path in self.directories

    def json_file(self, path: str) -> Any:
        f = self.files.get(path)
        if f is None or f.stored is None:
            return None
        try:
            return json.loads(f.content.read())
        except ValueError:
            return None

    def counted_safetensors(self) -> list[RepoFile]:
        """Files the API's ``safetensors`` summary counts: root index shards, else root files, else all."""
        index = self.json_file("model.safetensors.index.json")
        if isinstance(index, dict) and isinstance(index.get("weight_map"), dict):
            shards = sorted({str(v) for v in index["weight_map"].values()})
            return [self.files[s] for s in shards if s in self.files]
        st = [f for p, f in sorted(self.files.items()) if p.endswith(".safetensors")]
        root = [f for f in st if "/" not in f.path]
        return root or st

    @cached_property
    def safetensors_summary(self) -> dict[str, Any] | None:
        """``{"parameters": {dtype: count}, "total": n}`` (huggingface_hub semantics) or None."""
        if "safetensors" in self.hub:
            value = self.hub["safetensors"]
            return value if isinstance(value, dict) else None
        params: dict[str, int] = {}
        found = False
        for f in self.counted_safetensors():
            header = f.header_json()
            if header is None:
                continue
            found = True
            for name, info in header.items():
                if name == "__metadata__" or not isinstance(info, dict):
                    continue
                shape = info.get("shape", [])
                dtype = str(info.get("dtype"))
                params[dtype] = params.get(dtype, 0) + math.prod(int(d) for d in shape)
        if not found:
            return None
        return {"parameters": params, "total": sum(params.values())}


def _load_repo(repo_root: Path) -> Repo | None:
    meta_path = repo_root / REPO_JSON
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        repo_id = str(meta["repo_id"])
        sha = str(meta["sha"])
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("fakehub: skipping %s (bad repo.json: %s)", repo_root, exc)
        return None
    refs = {str(k): str(v) for k, v in (meta.get("refs") or {"main": sha}).items()}
    repo = Repo(
        repo_id=repo_id,
        sha=sha,
        root=repo_root,
        gated=meta.get("gated", False) or False,
        private=bool(meta.get("private", False)),
        disabled=bool(meta.get("disabled", False)),
        refs=refs,
        hub=dict(meta.get("hub") or {}),
        notes=str(meta.get("notes", "")),
    )
    files_dir = repo_root / FILES_DIR
    headers_dir = repo_root / HEADERS_DIR
    for path, spec in (meta.get("files") or {}).items():
        stored = files_dir / path
        header_file = next(
            (h for h in (headers_dir / f"{path}.json", headers_dir / f"{path}.json.gz") if h.is_file()), None
        )
        is_stored = stored.is_file()
        size = int(spec.get("size", stored.stat().st_size if is_stored else 0))
        if is_stored and stored.stat().st_size != size:
            log.warning(
                "fakehub: %s/%s: size %d in repo.json, %d stored", repo_id, path, size, stored.stat().st_size
            )
            size = stored.stat().st_size
        lfs = bool(spec.get("lfs", False))
        if not is_stored and header_file is None and spec.get("header_length") is None and not lfs:
            log.warning("fakehub: %s/%s has no stored content; serving zero bytes", repo_id, path)
        hl = spec.get("header_length")
        repo.files[path] = RepoFile(
            repo_id=repo_id,
            path=path,
            size=size,
            lfs=lfs,
            stored=stored if is_stored else None,
            header_file=None if is_stored else header_file,
            header_length=int(hl) if hl is not None and header_file is None else None,
        )
    if files_dir.is_dir():  # stored files missing from repo.json: serve them as regular files
        for p in sorted(files_dir.rglob("*")):
            rel = p.relative_to(files_dir).as_posix()
            if p.is_file() and rel not in repo.files:
                repo.files[rel] = RepoFile(repo_id, rel, p.stat().st_size, False, stored=p)
    return repo


class FixtureStore:
    """All repos and tokens of one fixtures directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.repos: dict[str, Repo] = {}
        self.tokens: dict[str, Token] = {}
        self.by_oid: dict[str, RepoFile] = {}
        self.reload()

    def reload(self) -> None:
        self.tokens = self._load_tokens()
        repos: dict[str, Repo] = {}
        repos_dir = self.root / REPOS_DIR
        if not repos_dir.is_dir():
            log.warning("fakehub: no repos under %s", repos_dir)
        else:
            skipped: list[str] = []
            for d in sorted(repos_dir.iterdir()):
                if d.is_dir():
                    repo = _load_repo(d)
                    if repo is not None:
                        repos[repo.repo_id] = repo
                    elif not (d / REPO_JSON).is_file():
                        skipped.append(d.name)
            if skipped:  # corpus configs kept for tests only (fixtures/README.md says which), not served
                log.info(
                    "fakehub: not serving %d config-only repo dirs (no repo.json): %s",
                    len(skipped),
                    ", ".join(skipped),
                )
        self.repos = repos
        self.by_oid = {}

    def _load_tokens(self) -> dict[str, Token]:
        path = self.root / TOKENS_FILE
        raw: dict[str, Any] = DEFAULT_TOKENS
        if path.is_file():
            try:
                raw = json.loads(path.read_text())
            except ValueError as exc:
                log.warning("fakehub: bad %s (%s); using default tokens", path, exc)
        return {
            tok: Token(
                token=tok,
                user=str(spec.get("user", "user")),
                gated_access=tuple(spec.get("gated_access") or ()),
                private_access=tuple(spec.get("private_access") or ()),
                orgs=tuple(spec.get("orgs") or ()),
            )
            for tok, spec in raw.items()
        }

    def get(self, repo_id: str) -> Repo | None:
        return self.repos.get(repo_id)

    def register_oid(self, f: RepoFile) -> None:
        """Remember an LFS file handed to the CDN (content-addressed by sha256)."""
        self.by_oid[f.lfs_oid] = f

    def find_oid(self, oid: str) -> RepoFile | None:
        f = self.by_oid.get(oid)
        if f is None:  # e.g. a URL from a previous server instance: search once
            for repo in self.repos.values():
                for rf in repo.files.values():
                    if rf.lfs and rf.lfs_oid == oid:
                        self.by_oid[oid] = rf
                        return rf
        return f
