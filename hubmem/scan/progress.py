"""The per-target progress callback of a scan and its rich progress bar (stderr)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from hubmem.scan.input import Target

Progress = Callable[[Target, str], None]  # called once per target: "ok" | "failed" | "skipped"


class ScanProgress:
    """A rich progress bar (rate and ETA) fed by :func:`scan_repos`'s ``progress`` callback."""

    def __init__(self, total: int, *, console: Any, enabled: bool = True) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class RateColumn(ProgressColumn):
            def render(self, task: Any) -> Text:
                speed = task.finished_speed or task.speed
                return Text(f"{speed:.1f}/s" if speed else "-/s", style="cyan")

        self.counts: Counter[str] = Counter()
        self.progress = Progress(
            TextColumn("[bold]scan"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
            disable=not enabled,
        )
        self.task = self.progress.add_task("scan", total=total, status="")

    def __enter__(self) -> ScanProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, target: Target, outcome: str) -> None:
        self.counts[outcome] += 1
        c = self.counts
        status = f"ok {c['ok']} failed {c['failed']}" + (f" skipped {c['skipped']}" if c["skipped"] else "")
        self.progress.update(self.task, advance=1, status=status)
