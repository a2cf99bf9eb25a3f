"""The on-disk fixture layout (the contract with the fixture builder) and a small writer for it.

fixtures/
  tokens.json                      {"<token>": {"user": "name", "gated_access": [...] | ["*"],
                                                "private_access": [...] | ["*"] (optional)}}
  repos/<org>__<name>/
    repo.json                      see ``RepoWriter.repo_json`` for the keys
    files/<path>                   verbatim bytes of small files (config.json, *.index.json, ...)
    headers/<path>.json[.gz]       the exact N header bytes of each safetensors file

A safetensors file is virtual: 8-byte little-endian N + header bytes + zero bytes up to ``size``.
``RepoWriter`` is what tests use to build tiny repos in a temp dir; it writes exactly this layout.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
from pathlib import Path
from typing import Any

REPOS_DIR = "repos"
TOKENS_FILE = "tokens.json"
REPO_JSON = "repo.json"
FILES_DIR = "files"
HEADERS_DIR = "headers"

READER_TOKEN = "hf_hubmem_fixture_reader"  # reads every gated and private repo
NOGATE_TOKEN = "hf_hubmem_fixture_nogate"  # valid, but no gated or private access

DEFAULT_TOKENS: dict[str, dict[str, Any]] = {
    READER_TOKEN: {"user": "hubmem-reader", "gated_access": ["*"], "private_access": ["*"]},
    NOGATE_TOKEN: {"user": "hubmem-nogate", "gated_access": [], "private_access": []},
}


def repo_dir_name(repo_id: str) -> str:
    """``org/name`` -> ``org__name`` (a single-segment id stays as it is)."""
    return repo_id.replace("/", "__")


def split_safetensors(data: bytes) -> tuple[bytes, int]:
    """Split a real safetensors file into (header bytes, total size)."""
    if len(data) < 8:
        raise ValueError("not a safetensors file: shorter than 8 bytes")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError("not a safetensors file: header length exceeds the file")
    return data[8 : 8 + n], len(data)


class RepoWriter:
    """Writes one repo of the fixture layout. Used by tests to build small repos in a tmp dir.

    >>> w = RepoWriter(tmp, "org/tiny", sha="a" * 40)
    >>> w.add_file("config.json", b"{}")
    >>> w.add_safetensors("model.safetensors", safetensors.numpy.save({...}))
    >>> w.write()
    """

    def __init__(
        self,
        fixtures_dir: str | Path,
        repo_id: str,
        *,
        sha: str = "0123456789abcdef0123456789abcdef01234567",
        gated: bool | str = False,
        private: bool = False,
        disabled: bool = False,
        refs: dict[str, str] | None = None,
        hub: dict[str, Any] | None = None,
        notes: str = "",
    ) -> None:
        self.root = Path(fixtures_dir) / REPOS_DIR / repo_dir_name(repo_id)
        self.repo_id = repo_id
        self.sha = sha
        self.gated = gated
        self.private = private
        self.disabled = disabled
        self.refs = refs
        self.hub = hub
        self.notes = notes
        self.files: dict[str, dict[str, Any]] = {}

    def add_file(self, path: str, content: bytes | str, *, lfs: bool = False) -> RepoWriter:
        data = content.encode() if isinstance(content, str) else content
        target = self.root / FILES_DIR / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        self.files[path] = {"size": len(data), "lfs": lfs}
        return self

    def add_json(self, path: str, obj: Any) -> RepoWriter:
        return self.add_file(path, json.dumps(obj, indent=2))

    def add_safetensors(
        self, path: str, data: bytes, *, size: int | None = None, gzip_header: bool = False
    ) -> RepoWriter:
        """Store a safetensors file as header only; ``size`` overrides the real size (default: len(data))."""
        header, real_size = split_safetensors(data)
        return self.add_header(
            path, header, size=real_size if size is None else size, gzip_header=gzip_header
        )

    def add_header(self, path: str, header: bytes, *, size: int, gzip_header: bool = False) -> RepoWriter:
        """Store raw header bytes for a (virtual) safetensors file of ``size`` bytes."""
        target = self.root / HEADERS_DIR / (path + (".json.gz" if gzip_header else ".json"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(gzip.compress(header) if gzip_header else header)
        self.files[path] = {"size": size, "lfs": True}
        return self

    def add_synthetic_header(self, path: str, header_length: int, *, size: int | None = None) -> RepoWriter:
        """A safetensors file whose header is ``header_length`` bytes of '{' + spaces (no headers/ file)."""
        self.files[path] = {
            "size": 8 + header_length if size is None else size,
            "lfs": True,
            "header_length": header_length,
        }
        return self

    def add_lfs_blob(self, path: str, size: int) -> RepoWriter:
        """An LFS file with no stored content (served as zero bytes), e.g. pytorch_model.bin."""
        self.files[path] = {"size": size, "lfs": True}
        return self

    def repo_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "repo_id": self.repo_id,
            "sha": self.sha,
            "gated": self.gated,
            "private": self.private,
            "disabled": self.disabled,
            "refs": self.refs if self.refs is not None else {"main": self.sha},
            "files": self.files,
        }
        if self.hub is not None:
            out["hub"] = self.hub
        if self.notes:
            out["notes"] = self.notes
        return out

    def write(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / REPO_JSON).write_text(json.dumps(self.repo_json(), indent=2))
        return self.root


def write_tokens(fixtures_dir: str | Path, tokens: dict[str, dict[str, Any]] | None = None) -> Path:
    path = Path(fixtures_dir) / TOKENS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(tokens if tokens is not None else DEFAULT_TOKENS, indent=2) + "\n")
    return path


def default_fixtures_dir() -> Path:
    """$HUBMEM_FIXTURES, else <repo root>/fixtures next to the package (editable install), else ./fixtures."""
    env = os.environ.get("HUBMEM_FIXTURES")
    if env:
        return Path(env).expanduser().resolve()
    beside = Path(__file__).resolve().parents[2] / "fixtures"
    if beside.is_dir():
        return beside
    return Path.cwd() / "fixtures"
