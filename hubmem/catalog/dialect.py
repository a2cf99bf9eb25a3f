"""The two databases the catalog runs on, behind one small interface: SQLite (stdlib ``sqlite3``, one file,
WAL) and PostgreSQL (psycopg 3, the optional extra ``postgres``).

The catalog's SQL is written once, with ``?`` placeholders and types both engines read the same way (``TEXT``,
``BIGINT``, ``DOUBLE PRECISION``, ``BOOLEAN``, ``INSERT ... ON CONFLICT ... DO UPDATE``); this layer turns the
placeholders into psycopg's ``%s``, runs transactions (``BEGIN IMMEDIATE`` on SQLite, so two writers queue on
the lock instead of failing on upgrade), and opens read-only connections with a time limit for ``--sql``.
Values are always bound, never formatted into SQL text.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

from hubmem.errors import CatalogError

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
# what a read-only SQLite statement may do (sqlite3 authorizer action codes); everything else is denied
_SQLITE_READ_ACTIONS = frozenset(
    [sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE]
)


def is_postgres(target: str) -> bool:
    return target.startswith(POSTGRES_SCHEMES)


def describe(target: str) -> str:
    """The target for messages, without a password."""
    if not is_postgres(target):
        return target
    scheme, _, rest = target.partition("://")
    credentials, at, host = rest.rpartition("@")
    return f"{scheme}://{credentials.split(':')[0]}@{host}" if at else target


class Database:
    """One open connection (SQLite or PostgreSQL) with the catalog's SQL spelling."""

    def __init__(
        self, conn: Any, *, postgres: bool, target: str, errors: tuple[type[Exception], ...]
    ) -> None:
        self.conn = conn
        self.postgres = postgres
        self.target = target
        self.errors = errors  # the driver's exception classes (sqlite3.Error or psycopg.Error)

    def sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.postgres else text

    def execute(self, text: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(self.sql(text), tuple(params))

    def executemany(self, text: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.conn.cursor().executemany(self.sql(text), [tuple(r) for r in rows])

    def rows(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.execute(text, params).fetchall()]

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing: the writes inside are committed together or not at all."""
        if self.postgres:
            with self.conn.transaction():
                yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @contextlib.contextmanager
    def advisory_lock(self, key: int) -> Iterator[None]:
        """PostgreSQL: a session lock (schema creation by two processes at once); SQLite: BEGIN IMMEDIATE."""
        if not self.postgres:
            with self.transaction():
                yield
            return
        self.conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            self.conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()


def open_database(target: str, *, read_only: bool = False, timeout: float = 30.0) -> Database:
    """``target``: a SQLite file path or a ``postgresql://`` URL. ``read_only`` opens it for reading only
    (the file must exist; PostgreSQL: ``default_transaction_read_only``)."""
    if is_postgres(target):
        return _open_postgres(target, read_only=read_only, timeout=timeout)
    return _open_sqlite(target, read_only=read_only, timeout=timeout)


def _open_sqlite(target: str, *, read_only: bool, timeout: float) -> Database:
    path = Path(target).expanduser()
    try:
        if read_only:
            if not path.is_file():
                raise CatalogError(f"no catalog at {path}", hint="Write one first: hubmem scan --db FILE ...")
            uri = f"file:{pathname2url(str(path.resolve()))}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)
        else:
            conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL: a commit survives a killed process
    except sqlite3.Error as exc:
        raise CatalogError(f"cannot open the catalog {path}: {exc}") from None
    return Database(conn, postgres=False, target=str(path), errors=(sqlite3.Error,))


def _open_postgres(target: str, *, read_only: bool, timeout: float) -> Database:
    try:
        import psycopg
    except ImportError:
        raise CatalogError(
            "a postgresql:// catalog needs psycopg", hint="pip install 'hubmem[postgres]'"
        ) from None
    options = "-c default_transaction_read_only=on" if read_only else ""
    try:
        conn = psycopg.connect(
            target, autocommit=True, connect_timeout=max(1, round(timeout)), options=options
        )
    except psycopg.Error as exc:
        raise CatalogError(f"cannot connect to {describe(target)}: {exc}".strip()) from None
    return Database(conn, postgres=True, target=target, errors=(psycopg.Error,))


@contextlib.contextmanager
def time_limit(db: Database, seconds: float) -> Iterator[None]:
    """Statements on ``db`` stop after ``seconds`` (SQLite: a progress handler; PostgreSQL:
    ``statement_timeout``) and, on SQLite, may only read (an authorizer denies every other action)."""
    if db.postgres:
        db.execute(f"SET statement_timeout = {int(seconds * 1000)}")  # an int we computed, not user text
        try:
            yield
        finally:
            db.execute("RESET statement_timeout")
        return
    deadline = time.monotonic() + seconds
    db.conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    db.conn.set_authorizer(
        lambda action, *_: sqlite3.SQLITE_OK if action in _SQLITE_READ_ACTIONS else sqlite3.SQLITE_DENY
    )
    try:
        yield
    finally:
        db.conn.set_progress_handler(None, 0)
        db.conn.set_authorizer(None)
