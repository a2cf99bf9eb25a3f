"""``hubmem catalog query`` and ``hubmem catalog export``: the database ``hubmem scan --db`` writes."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import click
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from hubmem.cli.console import guarded
from hubmem.cli.scan import DEFAULT_DB
from hubmem.schema.catalog import CatalogQuery

_DB_OPTION = click.option(
    "--db", default=DEFAULT_DB, show_default=True, help="The catalog: a SQLite file or a postgresql:// URL."
)


def _choices(annotation: Any) -> list[str] | None:
    """The values of a ``Literal[...]`` (or ``Literal[...] | None``) annotation."""
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    if get_origin(annotation) is Literal:
        return [str(v) for v in get_args(annotation)]
    return None


def _option(name: str, field: FieldInfo) -> Callable[[Any], Any]:
    flag = "--" + name.replace("_", "-")
    help_text = field.description or ""
    if field.annotation is bool:
        return click.option(flag, name, is_flag=True, default=None, help=help_text)
    choices = _choices(field.annotation)
    kind = click.Choice(choices) if choices else None
    default = field.default if field.default is not None else None
    return click.option(
        flag, name, type=kind, default=None, help=help_text + f" [{default}]" * (default is not None)
    )


def query_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """One option per CatalogQuery field (the service's query parameters are the same fields)."""
    for name, field in reversed(CatalogQuery.model_fields.items()):
        fn = _option(name, field)(fn)
    return fn


def build_query(kw: dict[str, Any]) -> CatalogQuery:
    given = {k: v for k, v in kw.items() if k in CatalogQuery.model_fields and v is not None}
    try:
        return CatalogQuery.model_validate(given)
    except ValidationError as exc:
        problems = "; ".join(
            f"--{'.'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}" for e in exc.errors()
        )
        raise click.UsageError(problems) from None


@click.group("catalog")
def catalog_group() -> None:
    """Query and export the catalog that `hubmem scan --db` writes (SQLite or PostgreSQL)."""


@catalog_group.command("query")
@_DB_OPTION
@query_options
@click.option(
    "--sql", default=None, help="One read-only SQL statement instead of the filters (table catalog)."
)
@click.option(
    "--max-rows", type=click.IntRange(1, 100_000), default=1000, show_default=True, help="--sql rows."
)
@click.option("--timeout", type=click.FloatRange(0.1), default=10.0, show_default=True, help="--sql seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@guarded
def query_cmd(db: str, sql: str | None, max_rows: int, timeout: float, as_json: bool, **kw: Any) -> None:
    """The current row of every repo (its latest scanned commit) that passes every filter given.

    \b
    hubmem catalog query --fits h100 --context 32768 --max-params 10e9
    hubmem catalog query --format gguf --sort parameters --order desc --limit 20
    hubmem catalog query --sql "SELECT dtype, count(*) FROM catalog GROUP BY dtype"
    """
    from rich.console import Console

    from hubmem.render.catalog import render_catalog, render_sql

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 200)  # a pipe or a file: do not fold the table to 80 columns
    if sql is not None:
        from hubmem.catalog.query import run_sql

        result = run_sql(db, sql, max_rows=max_rows, seconds=timeout)
        if as_json:
            click.echo(
                json.dumps([dict(zip(result.columns, r, strict=True)) for r in result.rows], default=str)
            )
        else:
            console.print(render_sql(result.columns, result.rows, result.truncated))
        return
    from hubmem.catalog.query import read_catalog

    page = read_catalog(db, build_query(kw))
    if as_json:
        click.echo(page.model_dump_json())
    else:
        console.print(render_catalog(page))


@catalog_group.command("export")
@_DB_OPTION
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv", "parquet"]), default="jsonl", show_default=True
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="File [stdout]."
)
@click.option("--history", is_flag=True, help="Also rows of earlier commits.")
@guarded
def export_cmd(db: str, fmt: Literal["jsonl", "csv", "parquet"], output: Path | None, history: bool) -> None:
    """Every current row as JSONL (as `hubmem scan -o` writes it), CSV (as `scan --csv`) or Parquet."""
    from hubmem.catalog.export import export_catalog
    from hubmem.cli.console import err_console

    n = export_catalog(db, fmt, output if output is not None else sys.stdout.buffer, history=history)
    err_console().print(f"[dim]{n} rows[/]")
