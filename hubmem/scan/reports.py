"""Finished scan reports kept in the header cache, so that a re-scan of unchanged repos with the same
settings costs one revision request per repo and no build.

An entry sits beside the snapshot's own entries, under the same ``(endpoint, repo, sha, scope)`` as its
headers (:mod:`hubmem.fetch.cache.store`: a gated or private repo's entries are scoped to the token), keyed
further by the revision asked for, the subfolder and a fingerprint of everything else a report depends on:
the options, the cross-check switch, and the code that builds it (hubmem's version and a digest of its
source files, and the versions of the ``gguf`` package, whose tables size GGUF tensors, and of pydantic).
A changed option or a changed line of hubmem is a miss, never a stale report.

A re-scan finds the entry through the cache's hint of the commit the revision last resolved to, and uses
it only when the revision request made now resolves to that same commit in the same access scope (that
request is also what checks the caller's token, as for the header entries). The entry holds the report as
``build_report`` returned it; the fetch figures (requests, bytes, seconds) are replaced by this run's. A
torn, forged or foreign entry, or one that no longer validates as a report, is a miss (and is dropped).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
from pathlib import Path

import msgspec
from pydantic import ValidationError

import hubmem
from hubmem._version import __version__
from hubmem.fetch.cache.store import HeaderCache
from hubmem.schema.options import Options
from hubmem.schema.report import Report

_KIND = "report"


@functools.cache
def code_digest() -> str:
    """sha256 over hubmem's source files (relative path and bytes, in path order) and the versions of the
    packages whose code shapes a report: computed once per process (~7 ms)."""
    h = hashlib.sha256(__version__.encode())
    for dist in ("gguf", "pydantic"):
        h.update(f"\0{dist}={importlib.metadata.version(dist)}".encode())
    root = Path(hubmem.__file__).parent
    try:
        for file in sorted(root.rglob("*.py")):
            h.update(b"\0" + file.relative_to(root).as_posix().encode() + b"\0" + file.read_bytes())
    except OSError:  # sources that cannot be read (an unusual install): a digest no entry can match
        return f"unreadable {os.urandom(16).hex()}"
    return h.hexdigest()


class Stored(msgspec.Struct, frozen=True):
    """A report found in the cache, for the commit and access scope it was built at."""

    sha: str
    scope: str
    key: list[str]
    text: str


class StoredReports:
    """The finished reports of one scan's settings in ``cache`` (reads and writes: blocking file I/O)."""

    def __init__(self, cache: HeaderCache, endpoint: str, options: Options, check: bool) -> None:
        self.cache = cache
        self.endpoint = endpoint
        self.fingerprint = hashlib.sha256(
            f"{code_digest()}\0{int(check)}\0{options.model_dump_json()}".encode()
        ).hexdigest()

    def _path(self, revision: str, subfolder: str | None) -> str:
        """The report's path among its commit's entries (:class:`CommitCache`, same sha and scope)."""
        return f"\0{_KIND}\0{revision}\0{subfolder or ''}\0{self.fingerprint}"

    def find(self, repo_id: str, revision: str, subfolder: str | None) -> Stored | None:
        """The report stored for the commit ``revision`` last resolved to, or None."""
        hint = self.cache.ref_hint(self.endpoint, repo_id, revision, subfolder)
        if hint is None:
            return None
        commit = self.cache.commit(self.endpoint, repo_id, *hint)
        path = self._path(revision, subfolder)
        value = commit.entry(path, _KIND)  # another kind's entry under the key is dropped there
        text = None if value is None else value.get("json")
        if value is not None and not isinstance(text, str):
            self.cache.discard(commit.entry_key(path))
            return None
        return None if text is None else Stored(*hint, commit.entry_key(path), text)

    def report(self, stored: Stored, repo_id: str) -> Report | None:
        """The stored report, when it is one of ``repo_id`` at the stored commit (else dropped: None)."""
        try:
            report = Report.model_validate_json(stored.text)
        except ValidationError:
            report = None
        if report is None or report.repo_id != repo_id or report.commit != stored.sha:
            self.cache.discard(stored.key)
            return None
        return report

    def store(self, repo_id: str, revision: str, subfolder: str | None, commit: str, text: str) -> None:
        """Keep the report ``text`` built at ``commit``, under the access scope the fetch stored the
        snapshot's entries with (the hint it left); nothing when that hint names another commit."""
        hint = self.cache.ref_hint(self.endpoint, repo_id, revision, subfolder)
        if hint is not None and hint[0] == commit:
            key = self.cache.commit(self.endpoint, repo_id, *hint).entry_key(self._path(revision, subfolder))
            self.cache.put(key, {"kind": _KIND, "json": text})
