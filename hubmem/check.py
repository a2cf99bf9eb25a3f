"""``hubmem check``: where a report comes from (Hub, header cache, local folder, HF cache) and how the
cross-checks are shown. The checks themselves are pure functions in :mod:`hubmem.estimate.crosscheck`.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console, Group, RenderableType
from rich.text import Text

from .fetch.cache import HeaderCache
from .fetch.local import load_cached, load_local, looks_local
from .pipeline import analyze_async, build_report, run_sync
from .render.units import human_bytes, human_count
from .schema.check import CheckItem, CheckReport
from .schema.options import Options
from .schema.report import Report

_STYLE = {"ok": "green", "mismatch": "bold red", "unavailable": "dim"}


def offline_mode() -> bool:
    """``HF_HUB_OFFLINE`` as huggingface_hub read it (at import)."""
    from huggingface_hub import constants

    return bool(getattr(constants, "HF_HUB_OFFLINE", False))


def analyze_source(
    target: str,
    options: Options,
    *,
    token: str | bool | None = None,
    endpoint: str | None = None,
    offline: bool = False,
    cache: HeaderCache | None = None,
    hf_cache_dir: str | Path | None = None,
    check: bool = False,
) -> Report:
    """The report of ``target``: a local folder / ``.safetensors`` file, else a Hub repo read from the
    local Hugging Face cache (``offline`` or ``HF_HUB_OFFLINE``), else from the Hub (through ``cache``)."""
    if looks_local(target):
        return build_report(load_local(target, subfolder=options.subfolder), options, check=check)
    if offline or offline_mode():
        snapshot = load_cached(
            target, revision=options.revision, subfolder=options.subfolder, cache_dir=hf_cache_dir
        )
        return build_report(snapshot, options, check=check)
    return run_sync(
        lambda: analyze_async(target, options, token=token, endpoint=endpoint, cache=cache, check=check)
    )


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
