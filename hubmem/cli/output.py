"""How ``report`` and ``demo`` print a report: the output options (--json, --bytes, --brief, --verbose,
--no-train, --units) and the warnings on stderr. These shape the printout only, so they are not query
parameters of the service (which answers JSON)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from hubmem.cli.console import err_line

if TYPE_CHECKING:
    from hubmem.schema.report import Report

OUTPUT_OPTIONS = (
    click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON."),
    click.option("--bytes", "show_bytes", is_flag=True, help="Show exact byte counts beside sizes."),
    click.option("--brief", is_flag=True, help="Print the one-line answer and the fit verdict only."),
    click.option(
        "-v", "--verbose", is_flag=True, help="Print every assumption (`assumes:` lines) behind the figures."
    ),
    click.option(
        "--no-train",
        is_flag=True,
        help="Leave the training projection out (unless --train asks for it).",
    ),
    click.option(
        "--units",
        type=click.Choice(["binary", "si"]),
        default="binary",
        show_default=True,
        help="Sizes in GiB (binary, 2^30 B, as memory is sized) or GB (si, 10^9 B, as the Hub and GPU "
        "vendors print them).",
    ),
)
OUTPUT_NAMES = ("as_json", "show_bytes", "brief", "verbose", "no_train", "units")


def output_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(OUTPUT_OPTIONS):
        fn = option(fn)
    return fn


def warn(report: Report) -> None:
    """Every warning of the report on stderr, one line each (repo text printed literally)."""
    for warning in report.warnings:
        err_line(("warning:", "bold yellow"), " ", warning)


def emit(report: Report, kw: dict[str, Any]) -> None:
    """The report as JSON or as text, then its warnings on stderr."""
    if kw.get("no_train") and not kw.get("train_method"):
        report = report.model_copy(update={"training": None})
    if kw.get("target_warnings"):  # what the repo argument itself made us warn about
        report = report.model_copy(update={"warnings": [*kw["target_warnings"], *report.warnings]})
    if kw.get("as_json"):
        click.echo(report.model_dump_json(indent=2))
    else:
        from hubmem.render.text import print_report  # rich and the text renderer: not for --json

        print_report(
            report,
            show_bytes=kw.get("show_bytes", False),
            verbose=kw.get("verbose", False),
            brief_only=kw.get("brief", False),
            units=kw.get("units", "binary"),
        )
    warn(report)
