"""Files + resume: what the CLI runs (open and compact the outputs, scan, close, under a lock)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import filelock

from hubmem.errors import OutputExistsError
from hubmem.fetch.cache import HeaderCache
from hubmem.scan.input import Target
from hubmem.scan.output import Existing, FsyncPolicy, LineWriter, compact_output, csv_line
from hubmem.scan.progress import Progress
from hubmem.scan.runner import ScanSettings, scan_repos
from hubmem.scan.summary import ScanSummary
from hubmem.schema.scan import SUMMARY_COLUMNS, ScanRow, summary_row


@dataclass
class ScanFiles:
    output: Path | None  # None: JSONL to stdout
    csv: Path | None = None
    resume: bool = False
    overwrite: bool = False
    fsync: FsyncPolicy = "interval"


async def run_scan(
    targets: list[Target],
    settings: ScanSettings,
    files: ScanFiles,
    *,
    cache: HeaderCache | None = None,
    progress: Progress | None = None,
    on_resume: Callable[[Existing], None] | None = None,
) -> ScanSummary:
    """Open (and on resume compact) the outputs, scan, close. Holds ``<output>.lock`` throughout so
    two scans never append to the same file."""
    lock: filelock.FileLock | None = None
    existing = Existing()
    out: LineWriter
    csv_out: LineWriter | None = None
    if files.output is not None:
        lock = filelock.FileLock(str(files.output) + ".lock")
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            raise OutputExistsError(
                f"{files.output} is being written by another scan (lock {files.output}.lock is held)",
                hint="Wait for that scan to finish, or write to another file.",
            ) from None
    try:
        if files.output is not None:
            nonempty = files.output.exists() and files.output.stat().st_size > 0
            if nonempty and not files.resume and not files.overwrite:
                raise OutputExistsError(f"{files.output} already exists and is not empty")
            if files.resume:
                existing = compact_output(files.output, csv_path=files.csv)
                if on_resume:
                    on_resume(existing)
            out = LineWriter.open(files.output, truncate=not files.resume, fsync=files.fsync)
        else:
            out = LineWriter(1, fsync="none", owns=False)
        if files.csv is not None:
            fresh = not files.resume or not files.csv.exists()
            csv_out = LineWriter.open(files.csv, truncate=fresh, fsync=files.fsync)
            if fresh:
                csv_out.write(csv_line(SUMMARY_COLUMNS))
        superseded = False

        def write_row(line: bytes, row: ScanRow) -> None:
            nonlocal superseded
            out.write(line)
            if csv_out is not None:
                summary = summary_row(row)
                csv_out.write(csv_line(summary[c] for c in SUMMARY_COLUMNS))
            if row.ok and (row.repo_id, row.revision) in existing.done:
                superseded = True  # an older ok row of this repo is now stale

        try:
            summary = await scan_repos(
                targets, settings, write_row=write_row, done=existing.done, cache=cache, progress=progress
            )
        finally:
            out.close()
            if csv_out is not None:
                csv_out.close()
        if superseded and files.output is not None:
            compact_output(files.output, csv_path=files.csv)
        return summary
    finally:
        if lock is not None:
            lock.release()  # the lock file stays: deleting it could let two later scans both lock
