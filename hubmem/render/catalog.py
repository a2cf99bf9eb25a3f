"""The terminal table of ``hubmem catalog query``. Every cell is a plain ``Text``: a repo id or an error
message is printed as it is, never read as rich markup."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from hubmem.render.units import human_bytes, human_count
from hubmem.schema.catalog import CatalogPage, CatalogRow


def _num(value: int | None, fmt: Callable[[int], str] = "{:,}".format) -> str:
    return "–" if value is None else fmt(value)


def _status(row: CatalogRow) -> Text:
    return Text("ok", style="green") if row.ok else Text(row.error_kind or "failed", style="red")


def _fits(row: CatalogRow) -> Text:
    if row.fits is None:
        return Text("–")
    return Text("fits", style="green") if row.fits else Text("no", style="red")


_BASE: tuple[tuple[str, Callable[[CatalogRow], Any], bool], ...] = (
    ("repo", lambda r: r.repo_id, False),
    ("commit", lambda r: r.commit_sha[:8], False),
    ("status", _status, False),
    ("format", lambda r: r.format or "–", False),
    ("dtype", lambda r: r.dtype or "–", False),
    ("quant", lambda r: r.quantization or "–", False),
    ("params", lambda r: _num(r.parameters, human_count), True),
    ("active", lambda r: _num(r.active_parameters, human_count), True),
    ("weights", lambda r: _num(r.total_bytes, human_bytes), True),
    ("layers", lambda r: _num(r.layers), True),
    ("KV B/token", lambda r: _num(r.kv_bytes_per_token), True),
    ("max context", lambda r: _num(r.max_context), True),
)
_FIT: tuple[tuple[str, Callable[[CatalogRow], Any], bool], ...] = (
    ("gpu", lambda r: r.gpu or "–", False),
    ("gpus", lambda r: _num(r.gpus), True),
    ("context", lambda r: _num(r.context), True),
    ("verdict", _fits, False),
    ("max ctx fits", lambda r: _num(r.fit_max_context), True),
    ("max batch", lambda r: _num(r.fit_max_batch), True),
)


def render_catalog(page: CatalogPage) -> Table:
    """One line per row; the fit columns when any row has a verdict."""
    columns = list(_BASE) + (list(_FIT) if any(r.gpu for r in page.rows) else [])
    shown = f"{page.offset + 1}-{page.offset + len(page.rows)}" if page.rows else "0"
    table = Table(title=Text(f"{shown} of {page.total} rows"), title_justify="left", show_lines=False)
    longest = max((len(r.repo_id) for r in page.rows), default=4)
    for name, _, numeric in columns:
        repo = name == "repo"
        table.add_column(
            Text(name),
            justify="right" if numeric else "left",
            no_wrap=not repo,
            min_width=longest if repo else None,
        )
    for row in page.rows:
        table.add_row(
            *(cell if isinstance(cell := get(row), Text) else Text(str(cell)) for _, get, _ in columns)
        )
    return table


def render_sql(columns: Sequence[str], rows: Sequence[Sequence[Any]], truncated: bool) -> Table:
    """The result of ``--sql`` as a table (values as plain text)."""
    title = f"{len(rows)} rows" + (
        " (more matched: raise --max-rows or narrow the query)" if truncated else ""
    )
    table = Table(title=Text(title), title_justify="left")
    for name in columns:
        table.add_column(Text(str(name)), overflow="fold")
    for row in rows:
        table.add_row(*(Text("NULL" if v is None else str(v)) for v in row))
    return table
