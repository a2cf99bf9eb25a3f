"""The catalog's tables, the same on SQLite and PostgreSQL. Column names and types come from
:class:`hubmem.schema.catalog.CatalogRow` (nothing is listed twice).

``reports``  one row per (repo, commit, options): the typed columns plus ``row_json``, the scan's JSONL line
             (the whole report) exactly as ``hubmem scan -o`` writes it.
``heads``    per (repo, revision, options): the commit the latest scan found (the listing's sha, or what the
             revision resolved to) and the listing's lastModified. A ``reports`` row is *current* when a
             head points at it.
``options``  options_hash -> the options it stands for (JSON).
``catalog``  a view: the current rows of ``reports`` (what ``hubmem catalog query`` reads; handy for --sql).
"""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

from hubmem.catalog.dialect import Database
from hubmem.errors import CatalogError
from hubmem.schema.catalog import ROW_COLUMNS, CatalogRow

SCHEMA_VERSION = "1"
KEY_COLUMNS = ("repo_id", "commit_sha", "options_hash")
_SQL_TYPES: dict[type, str] = {bool: "BOOLEAN", int: "BIGINT", float: "DOUBLE PRECISION", str: "TEXT"}
_SCHEMA_LOCK = 0x6875626D656D  # "hubmem": the advisory lock key while creating the tables


def column_type(annotation: Any) -> tuple[str, bool]:
    """(SQL type, nullable) of a CatalogRow field annotation (``int``, ``str | None`` ...)."""
    nullable = False
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(get_args(annotation))
        annotation = args[0]
    return _SQL_TYPES[annotation], nullable


def _reports_ddl() -> str:
    columns = []
    for name, field in CatalogRow.model_fields.items():
        sql_type, nullable = column_type(field.annotation)
        columns.append(f"{name} {sql_type}" + ("" if nullable else " NOT NULL"))
    columns.append("row_json TEXT NOT NULL")
    return (
        "CREATE TABLE IF NOT EXISTS reports (\n  "
        + ",\n  ".join(columns)
        + f",\n  PRIMARY KEY ({', '.join(KEY_COLUMNS)})\n)"
    )


STATEMENTS = (
    _reports_ddl(),
    """CREATE TABLE IF NOT EXISTS heads (
  repo_id TEXT NOT NULL,
  revision TEXT NOT NULL,
  options_hash TEXT NOT NULL,
  commit_sha TEXT NOT NULL,
  last_modified TEXT,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (repo_id, revision, options_hash)
)""",
    """CREATE TABLE IF NOT EXISTS options (
  options_hash TEXT PRIMARY KEY,
  options_json TEXT NOT NULL
)""",
    "CREATE TABLE IF NOT EXISTS catalog_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS reports_by_options ON reports (options_hash, repo_id)",
    "CREATE INDEX IF NOT EXISTS heads_by_commit ON heads (repo_id, options_hash, commit_sha)",
)
CURRENT = (
    "EXISTS (SELECT 1 FROM heads h WHERE h.repo_id = r.repo_id AND h.options_hash = r.options_hash"
    " AND h.commit_sha = r.commit_sha)"
)
_VIEW = "catalog AS SELECT r.* FROM reports r WHERE " + CURRENT


def create_tables(db: Database) -> None:
    """Create what is missing (idempotent, safe with several processes at once) and check the schema
    version of an existing catalog."""
    with db.advisory_lock(_SCHEMA_LOCK):
        for statement in STATEMENTS:
            db.execute(statement)
        db.execute(("CREATE OR REPLACE VIEW " if db.postgres else "CREATE VIEW IF NOT EXISTS ") + _VIEW)
        found = db.rows("SELECT value FROM catalog_meta WHERE name = ?", ("schema_version",))
        if not found:
            db.execute(
                "INSERT INTO catalog_meta (name, value) VALUES (?, ?)", ("schema_version", SCHEMA_VERSION)
            )
        elif found[0][0] != SCHEMA_VERSION:
            raise CatalogError(
                f"{db.target} has catalog schema {found[0][0]}, this hubmem writes {SCHEMA_VERSION}",
                hint="Write a new catalog (--db elsewhere), or use the hubmem version that wrote it.",
            )


def as_row(values: tuple[Any, ...]) -> CatalogRow:
    """A ``SELECT <ROW_COLUMNS>`` tuple as a CatalogRow (SQLite's 0/1 booleans become bools)."""
    return CatalogRow.model_validate(dict(zip(ROW_COLUMNS, values, strict=True)))
