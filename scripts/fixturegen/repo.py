"""One fixture repo: files/, headers/, repo.json with provenance and self-checks (fixtures/README.md)."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fixturegen.sharding import Shard

GZIP_OVER = 32 * 1024  # headers bigger than this are stored gzipped


class CheckFailed(SystemExit):
    pass


@dataclass
class Check:
    what: str
    expected: Any
    actual: Any
    source: str
    ok: bool
    kind: str = "exact"  # exact | rounded | structural

    def row(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "expected": self.expected,
            "actual": self.actual,
            "kind": self.kind,
            "source": self.source,
            "result": "PASS" if self.ok else "FAIL",
        }


def _fmt(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int) else str(v)


@dataclass
class RepoBuild:
    repo_id: str
    root: Path
    gated: bool | str = False
    private: bool = False
    disabled: bool = False
    extra_refs: dict[str, str] = field(default_factory=dict)
    hub: dict[str, Any] | None = None
    method: str = ""  # how the headers were made (one line, for the README table)
    synthetic: bool = False  # a hubmem-test/ special case
    notes: list[str] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    stored: dict[str, bytes] = field(default_factory=dict)
    headers: dict[str, bytes] = field(default_factory=dict)
    file_provenance: dict[str, str] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    shards: dict[str, Shard] = field(default_factory=dict)

    @property
    def dir(self) -> Path:
        return self.root / "repos" / self.repo_id.replace("/", "__")

    # ---- inputs -------------------------------------------------------------------------------------
    def read_input(self, path: str) -> bytes:
        """A real file already stored under files/ (copied there from /work/shared/corpus)."""
        if path in self.stored:
            return self.stored[path]
        return (self.dir / "files" / path).read_bytes()

    def config(self) -> dict[str, Any]:
        return json.loads(self.read_input("config.json"))

    def keep_real(self, path: str, provenance: str) -> None:
        """Serve a real file verbatim from files/ (as the lead copied it from the corpus)."""
        data = self.read_input(path)
        self.add_file(path, data, provenance)

    # ---- outputs ------------------------------------------------------------------------------------
    def add_file(self, path: str, data: bytes, provenance: str, *, lfs: bool = False) -> None:
        self.stored[path] = data
        self.files[path] = {"size": len(data), "lfs": lfs}
        self.file_provenance[path] = provenance

    def add_shard(self, shard: Shard, provenance: str) -> tuple[bytes, int]:
        header, data = shard.header()
        self.shards[shard.filename] = shard
        self.headers[shard.filename] = header
        self.files[shard.filename] = {"size": 8 + len(header) + data, "lfs": True}
        self.file_provenance[shard.filename] = provenance
        return header, data

    def add_raw_header(self, path: str, header: bytes, size: int, provenance: str) -> None:
        self.headers[path] = header
        self.files[path] = {"size": size, "lfs": True}
        self.file_provenance[path] = provenance

    def add_blob(self, path: str, size: int, provenance: str, *, header_length: int | None = None) -> None:
        entry: dict[str, Any] = {"size": size, "lfs": True}
        if header_length is not None:
            entry["header_length"] = header_length
        self.files[path] = entry
        self.file_provenance[path] = provenance

    # ---- checks -------------------------------------------------------------------------------------
    def check(self, what: str, expected: Any, actual: Any, source: str, *, kind: str = "exact") -> None:
        self.checks.append(Check(what, expected, actual, source, expected == actual, kind))

    def check_rounded(
        self, what: str, published: str, actual: int, unit: float, digits: int, source: str
    ) -> None:
        """``actual / unit`` rounded to ``digits`` decimals must equal the published rounded figure."""
        shown = f"{actual / unit:.{digits}f}"
        ok = shown == published
        self.checks.append(Check(what, published, f"{actual:,} -> {shown}", source, ok, "rounded"))

    def check_true(self, what: str, ok: bool, detail: str, source: str) -> None:
        self.checks.append(Check(what, "true", detail, source, ok, "structural"))

    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    # ---- totals -------------------------------------------------------------------------------------
    def safetensors_totals(self) -> dict[str, int]:
        data = sum(s.data_size for s in self.shards.values())
        files = sum(self.files[name]["size"] for name in self.shards)
        return {"data": data, "files": files, "numel": sum(s.numel for s in self.shards.values())}

    def numel_by_dtype(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.shards.values():
            for t in s.tensors:
                out[t.dtype] = out.get(t.dtype, 0) + t.numel
        return dict(sorted(out.items()))

    # ---- writing ------------------------------------------------------------------------------------
    def sha(self) -> str:
        h = hashlib.sha1(self.repo_id.encode())
        for path in sorted(self.files):
            h.update(b"\0" + path.encode() + b"\0" + json.dumps(self.files[path], sort_keys=True).encode())
            body = self.stored.get(path) or self.headers.get(path) or b""
            h.update(hashlib.sha256(body).digest())
        return h.hexdigest()

    def repo_json(self) -> dict[str, Any]:
        sha = self.sha()
        refs = {"main": sha}
        for ref, salt in self.extra_refs.items():
            refs[ref] = hashlib.sha1(f"{sha}:{ref}:{salt}".encode()).hexdigest()
        out: dict[str, Any] = {
            "repo_id": self.repo_id,
            "sha": sha,
            "gated": self.gated,
            "private": self.private,
            "disabled": self.disabled,
            "refs": refs,
            "files": dict(sorted(self.files.items())),
        }
        if self.hub is not None:
            out["hub"] = self.hub
        out["provenance"] = {
            "synthetic_repo": self.synthetic,
            "headers": self.method,
            "files": dict(sorted(self.file_provenance.items())),
            "figures": self.safetensors_totals() | {"numel_by_dtype": self.numel_by_dtype()}
            if self.shards
            else {},
            "checks": [c.row() for c in self.checks],
            "notes": self.notes,
        }
        return out

    def write(self) -> None:
        d = self.dir
        d.mkdir(parents=True, exist_ok=True)
        for sub in ("files", "headers"):
            if (d / sub).exists():
                shutil.rmtree(d / sub)
        for path, data in self.stored.items():
            target = d / "files" / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        for path, header in self.headers.items():
            gz = len(header) > GZIP_OVER
            target = d / "headers" / (path + (".json.gz" if gz else ".json"))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(gzip.compress(header, compresslevel=9, mtime=0) if gz else header)
        (d / "repo.json").write_text(json.dumps(self.repo_json(), indent=2, ensure_ascii=False) + "\n")


def fmt_row_values(c: Check) -> tuple[str, str]:
    return _fmt(c.expected), _fmt(c.actual)
