"""Writing the catalog: one transaction per scanned repo (its row, its head, stale failures dropped), so a
scan killed at any moment leaves every finished repo stored once and nothing half-written; two processes
writing the same repo at once end with one row (the key is the primary key, written with an upsert).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import msgspec

from hubmem._version import __version__
from hubmem.catalog.dialect import Database, describe, open_database
from hubmem.catalog.tables import KEY_COLUMNS, create_tables
from hubmem.errors import CatalogError
from hubmem.schema.catalog import ROW_COLUMNS
from hubmem.schema.options import Options
from hubmem.schema.scan import ScanRow, summary_row

# failures that depend only on the files at a commit: not retried at the same commit by the same version
SETTLED_ERRORS = ("no_safetensors", "corrupt_header", "bad_config")

_INSERT_COLUMNS = (*ROW_COLUMNS, "row_json")
_UPSERT_REPORT = (
    f"INSERT INTO reports ({', '.join(_INSERT_COLUMNS)}) VALUES ({', '.join('?' for _ in _INSERT_COLUMNS)})"
    f" ON CONFLICT ({', '.join(KEY_COLUMNS)}) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _INSERT_COLUMNS if c not in KEY_COLUMNS)
    + " WHERE excluded.ok OR NOT reports.ok"  # a failure never replaces a good row of the same commit
)
_UPSERT_HEAD = (
    "INSERT INTO heads (repo_id, revision, options_hash, commit_sha, last_modified, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (repo_id, revision, options_hash) DO UPDATE SET"
    " commit_sha = excluded.commit_sha,"
    " last_modified = COALESCE(excluded.last_modified, heads.last_modified),"
    " updated_at = excluded.updated_at"
)
_DROP_STALE_FAILURES = (
    "DELETE FROM reports WHERE repo_id = ? AND options_hash = ? AND ok = ? AND commit_sha <> ?"
)


class OptionsKey(msgspec.Struct, frozen=True):
    """The scan options a row was computed with: a short hash (part of the row's key) and the JSON it hashes
    (only what differs from the defaults, so a new option with a default keeps old rows current)."""

    hash: str
    json: str

    @classmethod
    def of(cls, options: Options, *, check: bool) -> OptionsKey:
        data: dict[str, Any] = options.model_dump(mode="json", exclude_defaults=True, exclude={"revision"})
        data["check"] = check
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return cls(hashlib.sha256(text.encode()).hexdigest()[:16], text)


class Head(msgspec.Struct, frozen=True):
    """Where a (repo, revision) stands now, as the listing (or a resolution) says."""

    repo_id: str
    revision: str
    commit: str
    last_modified: str | None = None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def row_values(row: ScanRow, options_hash: str, scanned_at: str) -> list[Any]:
    """The typed columns of a scan row (:func:`summary_row`'s figures under the same names), in
    ``ROW_COLUMNS`` order."""
    values = summary_row(row)
    values.update(
        commit_sha=row.commit or "",
        options_hash=options_hash,
        scanned_at=scanned_at,
        hubmem_version=__version__,
    )
    return [values.get(name) for name in ROW_COLUMNS]


class Store:
    """The catalog, open for a scan."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @classmethod
    def open(cls, target: str) -> Store:
        db = open_database(target)
        try:
            create_tables(db)
        except BaseException:
            db.close()
            raise
        return cls(db)

    def close(self) -> None:
        self.db.close()

    def save_options(self, key: OptionsKey) -> None:
        self.db.execute(
            "INSERT INTO options (options_hash, options_json) VALUES (?, ?)"
            " ON CONFLICT (options_hash) DO NOTHING",
            (key.hash, key.json),
        )

    def _done_condition(self) -> tuple[str, list[Any]]:
        marks = ", ".join("?" for _ in SETTLED_ERRORS)
        return (
            f"(r.ok = ? OR (r.error_kind IN ({marks}) AND r.hubmem_version = ?))",
            [True, *SETTLED_ERRORS, __version__],
        )

    def settled(self, options_hash: str) -> set[tuple[str, str]]:
        """(repo, commit) pairs stored with these options that a scan need not repeat: ok rows, and
        failures that the files at that commit decide (for the same hubmem version)."""
        done, params = self._done_condition()
        found = self.db.rows(
            f"SELECT r.repo_id, r.commit_sha FROM reports r WHERE r.options_hash = ? AND r.commit_sha <> ''"
            f" AND {done}",
            [options_hash, *params],
        )
        return {(repo, commit) for repo, commit in found}

    def heads(self, options_hash: str) -> dict[tuple[str, str], str]:
        """(repo, revision) -> the commit its head points at, for these options."""
        found = self.db.rows(
            "SELECT repo_id, revision, commit_sha FROM heads WHERE options_hash = ?", (options_hash,)
        )
        return {(repo, revision): commit for repo, revision, commit in found}

    def set_heads(self, options_hash: str, heads: list[Head]) -> None:
        """Move heads to commits already stored (a listed repo whose row exists at its current commit)."""
        stamp = now()
        with self.db.transaction():
            self.db.executemany(
                _UPSERT_HEAD,
                [(h.repo_id, h.revision, options_hash, h.commit, h.last_modified, stamp) for h in heads],
            )

    def put(self, line: bytes, row: ScanRow, options_hash: str, last_modified: str | None = None) -> None:
        """Store one scanned repo in one transaction: its row (the JSONL ``line`` with the typed columns),
        its head, and no older failure of it."""
        stamp = now()
        values = row_values(row, options_hash, stamp)
        commit = row.commit or ""
        try:
            with self.db.transaction():
                self.db.execute(_DROP_STALE_FAILURES, (row.repo_id, options_hash, False, commit))
                self.db.execute(_UPSERT_REPORT, [*values, line.decode().rstrip("\n")])
                self.db.execute(
                    _UPSERT_HEAD, (row.repo_id, row.revision, options_hash, commit, last_modified, stamp)
                )
        except self.db.errors as exc:
            raise CatalogError(f"cannot write {row.repo_id} to {describe(self.db.target)}: {exc}") from None
