"""The cross-checks as a person reads them (``hubmem check``, ``hubmem REPO --check``)."""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.text import Text

from hubmem.render.units import human_bytes, human_count
from hubmem.schema.check import CheckItem, CheckReport
from hubmem.schema.report import Report

_STYLE = {"ok": "green", "mismatch": "bold red", "unavailable": "dim"}


def _num(item: CheckItem, value: int | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if item.unit == "bytes":
        return f"{value:,} ({human_bytes(value)})"
    if item.unit == "parameters":
        return f"{value:,} ({human_count(value)})"
    return f"{value:,}"


def render_check(check: CheckReport, *, title: str = "Cross-checks") -> Group:
    """One block per check: status, name and the two figures, then the detail (fits narrow terminals)."""
    lines: list[RenderableType] = [Text(title, style="bold")]
    for item in check.items:
        head = Text("  ")
        head.append(f"{item.status:<11}", style=_STYLE[item.status])
        head.append(f" {item.name}", style="bold")
        if item.expected is not None or item.actual is not None:
            head.append(
                f"  claimed {_num(item, item.expected) or '-'}, headers {_num(item, item.actual) or '-'}"
            )
            if item.difference:
                head.append(f" ({item.difference:+,})", style=_STYLE[item.status])
        lines.append(head)
        if item.detail:
            lines.append(Text(f"      {item.detail}", style="dim"))
        for example in item.examples:
            lines.append(Text(f"        {example}"))
    return Group(*lines)


def print_check(report: Report, *, console: Console | None = None) -> None:
    console = console or Console()
    check = report.check or CheckReport(ok=True)
    where = report.repo_id + (f"@{report.commit[:12]}" if report.commit else "")
    console.print(render_check(check, title=f"Cross-checks of {where}"))
    verdict = ("[green]no mismatch[/]" if check.ok else f"[bold red]{check.mismatches} mismatch(es)[/]") + (
        f", {check.unavailable} unavailable" if check.unavailable else ""
    )
    console.print(verdict)
