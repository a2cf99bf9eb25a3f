"""Files + resume: what the CLI runs (open and compact the outputs, scan, close, under a lock)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import filelock
import msgspec

from hubmem.errors import OutputExistsError
from hubmem.fetch.cache.store import HeaderCache
from hubmem.scan.input import Target
from hubmem.scan.output import Existing, FsyncPolicy, LineWriter, compact_output
from hubmem.scan.progress import Progress
from hubmem.scan.runner import ScanSettings, scan_repos
from hubmem.scan.summary import ScanSummary
from hubmem.schema.scan import SUMMARY_COLUMNS, ScanRow, csv_line, summary_row


class ScanFiles(msgspec.Struct):
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
    lock = _lock(files.output)
    try:
        outputs = _Outputs.open(files, on_resume)
        try:
            summary = await scan_repos(
                targets,
                settings,
                write_row=outputs.write_row,
                done=outputs.existing.done,
                cache=cache,
                progress=progress,
            )
        finally:
            outputs.close()
        if outputs.superseded and files.output is not None:
            compact_output(files.output, csv_path=files.csv)
        return summary
    finally:
        if lock is not None:
            lock.release()  # the lock file stays: deleting it could let two later scans both lock


def _lock(output: Path | None) -> filelock.FileLock | None:
    """``<output>.lock``, taken without waiting (another scan writing there is an error)."""
    if output is None:
        return None
    lock = filelock.FileLock(str(output) + ".lock")
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise OutputExistsError(
            f"{output} is being written by another scan (lock {output}.lock is held)",
            hint="Wait for that scan to finish, or write to another file.",
        ) from None
    return lock


class _Outputs:
    """The JSONL output (stdout when there is no file) and the CSV, open for one scan."""

    def __init__(self, out: LineWriter, csv_out: LineWriter | None, existing: Existing) -> None:
        self.out, self.csv_out, self.existing = out, csv_out, existing
        self.superseded = False  # a row was written again: the output needs another compaction

    @classmethod
    def open(cls, files: ScanFiles, on_resume: Callable[[Existing], None] | None) -> _Outputs:
        existing = Existing()
        if files.output is None:
            return cls(LineWriter(1, fsync="none", owns=False), _open_csv(files), existing)
        nonempty = files.output.exists() and files.output.stat().st_size > 0
        if nonempty and not files.resume and not files.overwrite:
            raise OutputExistsError(f"{files.output} already exists and is not empty")
        if files.resume:
            existing = compact_output(files.output, csv_path=files.csv)
            if on_resume:
                on_resume(existing)
        out = LineWriter.open(files.output, truncate=not files.resume, fsync=files.fsync)
        return cls(out, _open_csv(files), existing)

    def write_row(self, line: bytes, row: ScanRow) -> None:
        self.out.write(line)
        if self.csv_out is not None:
            summary = summary_row(row)
            self.csv_out.write(csv_line(summary[c] for c in SUMMARY_COLUMNS))
        if row.ok and (row.repo_id, row.revision) in self.existing.done:
            self.superseded = True  # an older ok row of this repo is now stale

    def close(self) -> None:
        self.out.close()
        if self.csv_out is not None:
            self.csv_out.close()


def _open_csv(files: ScanFiles) -> LineWriter | None:
    if files.csv is None:
        return None
    fresh = not files.resume or not files.csv.exists()
    csv_out = LineWriter.open(files.csv, truncate=fresh, fsync=files.fsync)
    if fresh:
        csv_out.write(csv_line(SUMMARY_COLUMNS))
    return csv_out
