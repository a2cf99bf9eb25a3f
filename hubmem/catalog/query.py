"""Reading the catalog: plain filters (:class:`~hubmem.schema.catalog.CatalogQuery`) as SQL with bound values,
and ``--sql`` for anything else (one statement, on a read-only connection, with a row cap and a time limit).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from hubmem.catalog.dialect import Database, open_database, time_limit
from hubmem.catalog.tables import CURRENT, as_row
from hubmem.errors import CatalogError
from hubmem.estimate.fit.gpus import find_gpu
from hubmem.schema.catalog import ROW_COLUMNS, CatalogPage, CatalogQuery

# filters that compare one column with the value given (``?`` is the bound value)
_COMPARE: dict[str, str] = {
    "gpus": "r.gpus = ?",
    "context": "r.context = ?",
    "min_context": "r.fit_max_context >= ?",
    "min_params": "r.parameters >= ?",
    "max_params": "r.parameters <= ?",
    "max_active_params": "r.active_parameters <= ?",
    "max_weight_bytes": "r.total_bytes <= ?",
    "format": "r.format = ?",
    "dtype": "lower(r.dtype) = lower(?)",
    "model_type": "lower(r.model_type) = lower(?)",
}
_LIKE = "lower(r.repo_id) LIKE ? ESCAPE '\\'"
_SELECT = ", ".join(f"r.{c}" for c in ROW_COLUMNS)


def canonical_gpu(name: str) -> str:
    """The GPU catalog's name for ``name`` or one of its aliases (as fit verdicts store it); an unknown kind
    is a ``bad_config`` error naming the known ones."""
    return find_gpu(name).name


def _like(text: str) -> str:
    """``text`` as a LIKE pattern matching itself (``%``, ``_`` and ``\\`` escaped), lower case."""
    return text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _special(q: CatalogQuery) -> list[tuple[str, list[Any]]]:
    """The filters that are not a plain comparison."""
    out: list[tuple[str, list[Any]]] = []
    if not q.history:
        out.append((CURRENT, []))
    if q.fits is not None:
        out.append(("r.gpu = ? AND r.fits = ?", [canonical_gpu(q.fits), True]))
    if q.quantization is not None:
        none = q.quantization.lower() == "none"
        out.append(("r.ok = ? AND r.quantization IS NULL", [True]) if none else _eq("quantization", q))
    if q.author is not None:
        out.append((_LIKE, [_like(q.author.strip("/")) + "/%"]))
    if q.search is not None:
        out.append((_LIKE, ["%" + _like(q.search) + "%"]))
    if q.status != "all":
        out.append(("r.ok = ?", [q.status == "ok"]))
    return out


def _eq(column: str, q: CatalogQuery) -> tuple[str, list[Any]]:
    return (f"lower(r.{column}) = lower(?)", [getattr(q, column)])


def where_clause(q: CatalogQuery) -> tuple[str, list[Any]]:
    """The WHERE condition (over ``reports r``) and its bound values."""
    parts = [(sql, [getattr(q, name)]) for name, sql in _COMPARE.items() if getattr(q, name) is not None]
    parts += _special(q)
    if not parts:
        return "1 = 1", []
    return " AND ".join(f"({sql})" for sql, _ in parts), [v for _, values in parts for v in values]


def order_clause(q: CatalogQuery) -> str:
    """NULLs last in both directions and on both engines; ties by the row key (stable pages). ``sort`` is
    one of ROW_COLUMNS (checked by CatalogQuery), never free text."""
    column = f"r.{q.sort}"
    direction = "DESC" if q.order == "desc" else "ASC"
    return f"({column} IS NULL), {column} {direction}, r.repo_id, r.commit_sha, r.options_hash"


def query_page(db: Database, q: CatalogQuery) -> CatalogPage:
    where, params = where_clause(q)
    total = db.rows(f"SELECT count(*) FROM reports r WHERE {where}", params)[0][0]
    found = db.rows(
        f"SELECT {_SELECT} FROM reports r WHERE {where} ORDER BY {order_clause(q)} LIMIT ? OFFSET ?",
        [*params, q.limit, q.offset],
    )
    return CatalogPage(rows=[as_row(r) for r in found], total=int(total), limit=q.limit, offset=q.offset)


def read_catalog(target: str, q: CatalogQuery) -> CatalogPage:
    """One query on a read-only connection (the service runs this in a worker thread)."""
    page: CatalogPage = _reading(target, lambda db: query_page(db, q))
    return page


def _reading(target: str, job: Callable[[Database], Any]) -> Any:
    db = open_database(target, read_only=True)
    try:
        return job(db)
    except db.errors as exc:
        raise CatalogError(f"catalog query failed: {exc}") from None
    finally:
        db.close()


class SqlResult(msgspec.Struct, frozen=True):
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool  # more rows than max_rows matched


def run_sql(target: str, sql: str, *, max_rows: int = 1000, seconds: float = 10.0) -> SqlResult:
    """``--sql``: one statement, read-only, at most ``max_rows`` rows, stopped after ``seconds``."""
    text = sql.strip().rstrip(";").strip()
    if not text or ";" in text:
        raise CatalogError("--sql takes exactly one statement", hint="SELECT ... FROM catalog WHERE ...")

    def job(db: Database) -> SqlResult:
        with time_limit(db, seconds):
            cursor = db.conn.execute(text)  # user text, no parameters: a read-only connection runs it
            columns = [d[0] for d in cursor.description or []]
            rows = [tuple(r) for r in cursor.fetchmany(max_rows + 1)]
        return SqlResult(columns, rows[:max_rows], len(rows) > max_rows)

    result: SqlResult = _reading(target, job)
    return result
