"""The counts of one scan and their summary on the terminal (stderr)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec


class ScanSummary(msgspec.Struct):
    total: int = 0
    ok: int = 0
    failed: Counter[str] = msgspec.field(default_factory=Counter)  # error kind -> repos
    skipped: int = 0  # already in the output at the same commit (resume)
    unverified: int = 0  # resume: kept without re-checking because the revision could not be resolved
    mismatched: int = 0  # ok repos with at least one cross-check mismatch
    seconds: float = 0.0
    requests: int = 0
    bytes_received: int = 0
    cache_hits: int = 0
    reports_kept: int = 0  # ok rows whose report an earlier scan with the same settings kept (no build)
    rows_written: int = 0

    @property
    def failed_total(self) -> int:
        return sum(self.failed.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "ok": self.ok,
            "failed": self.failed_total,
            "failed_by_kind": dict(self.failed),
            "skipped": self.skipped,
            "unverified": self.unverified,
            "mismatched": self.mismatched,
            "seconds": round(self.seconds, 3),
            "requests": self.requests,
            "bytes_received": self.bytes_received,
            "cache_hits": self.cache_hits,
            "reports_kept": self.reports_kept,
            "repos_per_second": round(self.processed / self.seconds, 2) if self.seconds > 0 else None,
        }

    @property
    def processed(self) -> int:
        return self.ok + self.failed_total


def print_summary(summary: ScanSummary, console: Any) -> None:
    d = summary.to_dict()
    parts = [f"[bold]{summary.total}[/] repos: [green]{summary.ok} ok[/]"]
    if summary.failed_total:
        kinds = ", ".join(f"{k} {n}" for k, n in summary.failed.most_common())
        parts.append(f"[red]{summary.failed_total} failed[/] ({kinds})")
    if summary.skipped or summary.unverified:
        parts.append(f"{summary.skipped + summary.unverified} already done")
    if summary.mismatched:
        parts.append(f"[yellow]{summary.mismatched} with cross-check mismatches[/]")
    console.print("; ".join(parts))
    rate = d["repos_per_second"]
    per_repo = summary.requests / summary.processed if summary.processed else 0.0
    console.print(
        f"{summary.seconds:.1f} s" + (f", {rate} repos/s" if rate else "")
        + f", {summary.requests:,} requests ({per_repo:.2f}/repo), {summary.bytes_received:,} bytes received"
        + (f", {summary.cache_hits:,} cache hits" if summary.cache_hits else "")
        + (f", {summary.reports_kept:,} reports kept from an earlier scan" if summary.reports_kept else "")
    )  # fmt: skip
