"""Batch scans: many repos over one HubClient, rows written as each repo finishes, resumable.

* Input: repo ids one per line, optional ``@revision``; blank lines and ``#`` comments are ignored.
* Concurrency: ``concurrency`` repos in flight over ONE :class:`~hubmem.fetch.HubClient` (one connection
  pool). The client retries 408/429/5xx/dropped connections with exponential backoff and jitter, and a
  server-requested wait (``Retry-After`` / ``RateLimit ... r=0;t=N``) pauses *every* request of the scan
  (a global pause), so a rate-limited scan slows down instead of hammering the Hub.
* Output: JSONL, one :class:`~hubmem.schema.scan.ScanRow` per repo (a full report, or the error with its
  kind); optionally a CSV of :func:`~hubmem.schema.scan.summary_row`. Every line is written with one
  ``os.write`` of the whole line (and fsync per ``fsync`` policy), so killing the process at any moment
  loses at most the rows in flight; a torn last line (a kill inside a large write) is cut off on resume.
* Resume: rows already in the output are kept when they are ``ok`` and still at the commit the revision
  resolves to now (one API request each; none when the revision is a sha); failed rows are retried.
  Before the scan, the output is compacted (torn line, failed rows and superseded rows dropped, via a
  temporary file and an atomic rename), so the final file has one row per repo and revision.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import csv
import functools
import io
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import filelock

from .errors import HubmemError, InvalidRepoIdError
from .fetch import HubClient, fetch_snapshot
from .fetch.cache import HeaderCache
from .pipeline import build_report
from .schema.options import Options
from .schema.scan import SUMMARY_COLUMNS, ScanError, ScanRow, summary_row

FsyncPolicy = Literal["row", "interval", "none"]
_SHA = re.compile(r"^[0-9a-f]{40}$")
_INLINE_COMMENT = re.compile(r"\s+#.*$")


# -- input -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    repo_id: str
    revision: str
    line: int = 0  # line number in the input (1-based), for messages

    @property
    def key(self) -> tuple[str, str]:
        return (self.repo_id, self.revision)


def parse_targets(lines: Iterable[str], *, default_revision: str = "main") -> list[Target]:
    """``org/name``, ``org/name@rev`` one per line; ``#`` comments (whole line or after a space) and
    blank lines are ignored; a repeated (repo, revision) is kept once. Ids are validated later, per
    row, so one bad line becomes an ``invalid_repo_id`` row instead of stopping the scan."""
    seen: set[tuple[str, str]] = set()
    out: list[Target] = []
    for number, raw in enumerate(lines, 1):
        text = _INLINE_COMMENT.sub("", raw.strip())
        if not text or text.startswith("#"):
            continue
        repo_id, sep, revision = text.partition("@")
        target = Target(
            repo_id.strip(), revision.strip() if sep and revision.strip() else default_revision, number
        )
        if target.key not in seen:
            seen.add(target.key)
            out.append(target)
    return out


# -- output ----------------------------------------------------------------------------------------------


class LineWriter:
    """Append whole lines to a file descriptor: one ``os.write`` per line (looped only if the kernel
    accepts part of it), fsync per policy."""

    def __init__(self, fd: int, *, fsync: FsyncPolicy = "interval", interval: float = 1.0, owns: bool = True):
        self.fd = fd
        self.fsync_policy = fsync
        self.interval = interval
        self.owns = owns
        self._last_sync = time.monotonic()
        self._dirty = False
        self.lines = 0

    @classmethod
    def open(cls, path: Path, *, truncate: bool = False, fsync: FsyncPolicy = "interval") -> LineWriter:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if truncate else 0)
        return cls(os.open(path, flags, 0o644), fsync=fsync)

    def write(self, line: bytes) -> None:
        view = memoryview(line)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        self.lines += 1
        self._dirty = True
        if self.fsync_policy == "row" or (
            self.fsync_policy == "interval" and time.monotonic() - self._last_sync >= self.interval
        ):
            self.sync()

    def sync(self) -> None:
        if self._dirty and self.fsync_policy != "none":
            with contextlib.suppress(OSError):  # e.g. a pipe
                os.fsync(self.fd)
        self._dirty = False
        self._last_sync = time.monotonic()

    def close(self) -> None:
        self.sync()
        if self.owns:
            os.close(self.fd)


def ok_line(row: ScanRow, report_json: str) -> bytes:
    head = {
        "repo_id": row.repo_id,
        "revision": row.revision,
        "ok": True,
        "commit": row.commit,
        "seconds": row.seconds,
        "requests": row.requests,
    }
    return (json.dumps(head, separators=(",", ":"))[:-1] + ',"report":' + report_json + "}\n").encode()


def error_line(row: ScanRow) -> bytes:
    assert row.error is not None
    out: dict[str, Any] = {"repo_id": row.repo_id, "revision": row.revision, "ok": False}
    out["error"] = row.error.model_dump(exclude_none=True)
    out["seconds"] = row.seconds
    return (json.dumps(out, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def csv_line(values: Iterable[Any]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(["" if v is None else v for v in values])
    return buf.getvalue().encode()


# -- resume ------------------------------------------------------------------------------------------------


@dataclass
class Existing:
    """What an earlier run left in the output."""

    done: dict[tuple[str, str], str | None] = field(default_factory=dict)  # ok (repo, rev) -> commit
    kept: int = 0
    dropped_failed: int = 0
    dropped_torn: int = 0
    dropped_bad: int = 0
    dropped_superseded: int = 0


def _iter_lines(path: Path) -> Iterator[tuple[bytes, bool]]:
    """(line, complete) for every line of the file; only the last one may be incomplete."""
    with open(path, "rb") as fh:
        for line in fh:
            yield line, line.endswith(b"\n")


def _row_head(line: bytes) -> dict[str, Any] | None:
    try:
        row = json.loads(line)
    except ValueError:
        return None
    if (
        not isinstance(row, dict)
        or not isinstance(row.get("repo_id"), str)
        or not isinstance(row.get("ok"), bool)
    ):
        return None
    if not isinstance(row.get("revision"), str):
        return None
    return row


def compact_output(path: Path, *, csv_path: Path | None = None) -> Existing:
    """Keep, per (repo, revision), the last complete ``ok`` row; drop failed rows, a torn last line and
    unparsable lines. Rewrites the file (temporary file + atomic rename) only when something is dropped;
    rewrites ``csv_path`` from the kept rows when given."""
    found = Existing()
    if not path.exists():
        if csv_path is not None:
            _rewrite_csv(csv_path, [])
        return found
    last: dict[tuple[str, str], int] = {}
    for n, (line, complete) in enumerate(_iter_lines(path)):
        if not complete:
            found.dropped_torn += 1
            continue
        row = _row_head(line)
        if row is None:
            found.dropped_bad += 1
        elif not row["ok"]:
            found.dropped_failed += 1
        else:
            key = (row["repo_id"], row["revision"])
            if key in last:
                found.dropped_superseded += 1
            last[key] = n
            commit = row.get("commit")
            found.done[key] = commit if isinstance(commit, str) else None
    keep = set(last.values())
    found.kept = len(keep)
    changed = found.dropped_torn + found.dropped_bad + found.dropped_failed + found.dropped_superseded > 0
    if changed:
        tmp = path.with_name(path.name + ".compact.tmp")
        with open(tmp, "wb") as out:
            for i, (line, complete) in enumerate(_iter_lines(path)):
                if complete and i in keep:
                    out.write(line)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    if csv_path is not None:  # after compaction every line is a complete ok row
        _rewrite_csv(csv_path, [line for line, complete in _iter_lines(path) if complete])
    return found


def _rewrite_csv(csv_path: Path, jsonl_lines: list[bytes]) -> None:
    tmp = csv_path.with_name(csv_path.name + ".tmp")
    with open(tmp, "wb") as out:
        out.write(csv_line(SUMMARY_COLUMNS))
        for line in jsonl_lines:
            try:
                row = ScanRow.model_validate_json(line)
            except ValueError:
                continue
            summary = summary_row(row)
            out.write(csv_line(summary[c] for c in SUMMARY_COLUMNS))
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, csv_path)


# -- the scan ----------------------------------------------------------------------------------------------


@dataclass
class ScanSummary:
    total: int = 0
    ok: int = 0
    failed: Counter[str] = field(default_factory=Counter)  # error kind -> repos
    skipped: int = 0  # already in the output at the same commit (resume)
    unverified: int = 0  # resume: kept without re-checking because the revision could not be resolved
    mismatched: int = 0  # ok repos with at least one cross-check mismatch
    seconds: float = 0.0
    requests: int = 0
    bytes_received: int = 0
    cache_hits: int = 0
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
            "repos_per_second": round(self.processed / self.seconds, 2) if self.seconds > 0 else None,
        }

    @property
    def processed(self) -> int:
        return self.ok + self.failed_total


Progress = Callable[[Target, str], None]  # called once per target: "ok" | "failed" | "skipped"


@dataclass
class ScanSettings:
    options: Options = field(default_factory=Options)
    concurrency: int = 8
    check: bool = True
    endpoint: str | None = None
    token: str | bool | None = None
    max_retries: int = 5
    max_wait: float = 300.0
    backoff_base: float = 0.5
    timeout: float = 30.0
    workers: int = 0  # processes building reports (0: a thread of this process; CPU-bound for big MoE repos)


def _build_report_job(snapshot: Any, options: Options, seconds: float, check: bool) -> Any:
    """Run in a worker process: the report of one snapshot (pickled both ways)."""
    return build_report(snapshot, options, seconds=seconds, check=check)


async def resolve_commit(client: HubClient, repo_id: str, revision: str) -> str | None:
    """The sha ``revision`` resolves to now (one API request), or None when the Hub does not say."""
    url = client.api_url(repo_id, "revision", quote(revision, safe=""))
    data, _ = await client.get_json(url, params=[("expand", "sha")], repo_id=repo_id, revision=revision)
    sha = data.get("sha") if isinstance(data, dict) else None
    return sha if isinstance(sha, str) and _SHA.match(sha) else None


def _error_of(exc: BaseException) -> ScanError:
    if isinstance(exc, HubmemError):
        return ScanError(kind=exc.kind, message=exc.message, hint=exc.hint)
    return ScanError(
        kind="internal",
        message=f"{type(exc).__name__}: {exc}",
        hint="An unexpected failure; rerun this repo with HUBMEM_DEBUG=1 and please report it.",
    )


async def scan_repos(
    targets: list[Target],
    settings: ScanSettings,
    *,
    write_row: Callable[[bytes, ScanRow], None],
    done: dict[tuple[str, str], str | None] | None = None,
    cache: HeaderCache | None = None,
    progress: Progress | None = None,
    client: HubClient | None = None,
) -> ScanSummary:
    """Analyse every target with ``settings.concurrency`` in flight; ``write_row`` is called in the
    event loop as each one finishes (never twice for a target). ``done`` maps (repo, revision) to the
    commit of an ok row already written: such targets are skipped when still at that commit."""
    summary = ScanSummary(total=len(targets))
    done = done or {}
    started = time.perf_counter()
    own = client is None
    if client is None:
        client = HubClient(
            endpoint=settings.endpoint,
            token=settings.token,
            max_concurrency=min(128, max(8, 4 * settings.concurrency)),
            max_retries=settings.max_retries,
            max_wait=settings.max_wait,
            backoff_base=settings.backoff_base,
            timeout=settings.timeout,
        )
    requests_before = client.stats.requests
    bytes_before = client.stats.bytes_received
    queue: Iterator[Target] = iter(targets)
    pool: concurrent.futures.ProcessPoolExecutor | None = None
    if settings.workers > 0:
        import multiprocessing

        pool = concurrent.futures.ProcessPoolExecutor(
            settings.workers, mp_context=multiprocessing.get_context("spawn")
        )

    async def one(t: Target) -> None:
        t0 = time.perf_counter()
        if t.key in done:
            previous = done[t.key]
            current: str | None
            if _SHA.match(t.revision):
                current = t.revision
            else:
                try:
                    current = await resolve_commit(client, t.repo_id, t.revision)
                except HubmemError:
                    summary.unverified += 1
                    if progress:
                        progress(t, "skipped")
                    return
            if current is not None and current == previous:
                summary.skipped += 1
                if progress:
                    progress(t, "skipped")
                return
        row: ScanRow
        line: bytes
        try:
            if not t.repo_id:
                raise InvalidRepoIdError(f"line {t.line}: empty repo id")
            snapshot = await fetch_snapshot(
                client,
                t.repo_id,
                revision=t.revision,
                subfolder=settings.options.subfolder,
                with_hub_info=settings.check,
                list_tree=False,
                cache=cache,
            )
            seconds = time.perf_counter() - t0
            if pool is not None:
                loop = asyncio.get_running_loop()
                job = functools.partial(
                    _build_report_job, snapshot, settings.options, seconds, settings.check
                )
                report = await loop.run_in_executor(pool, job)
            else:
                report = await asyncio.to_thread(
                    build_report, snapshot, settings.options, seconds=seconds, check=settings.check
                )
            stats = snapshot.stats
            del snapshot  # big MoE headers: let them go before the row is serialised
            row = ScanRow(
                repo_id=t.repo_id,
                revision=t.revision,
                ok=True,
                commit=report.commit,
                seconds=round(time.perf_counter() - t0, 4),
                requests=stats.requests,
            )
            line = ok_line(row, report.model_dump_json())
            row.report = report
            summary.ok += 1
            summary.cache_hits += stats.cache_hits
            if report.check is not None and not report.check.ok:
                summary.mismatched += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every failure becomes a row, the scan goes on
            row = ScanRow(
                repo_id=t.repo_id,
                revision=t.revision,
                ok=False,
                error=_error_of(exc),
                seconds=round(time.perf_counter() - t0, 4),
            )
            line = error_line(row)
            assert row.error is not None
            summary.failed[row.error.kind] += 1
        write_row(line, row)
        summary.rows_written += 1
        if progress:
            progress(t, "ok" if row.ok else "failed")

    async def worker() -> None:
        for t in queue:  # one shared iterator: each target is taken by exactly one worker
            await one(t)

    try:
        await asyncio.gather(*(worker() for _ in range(max(1, min(settings.concurrency, len(targets) or 1)))))
    finally:
        summary.seconds = time.perf_counter() - started
        summary.requests = client.stats.requests - requests_before
        summary.bytes_received = client.stats.bytes_received - bytes_before
        if own:
            await client.aclose()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
    return summary


# -- files + resume: what the CLI runs -------------------------------------------------------------------


@dataclass
class ScanFiles:
    output: Path | None  # None: JSONL to stdout
    csv: Path | None = None
    resume: bool = False
    overwrite: bool = False
    fsync: FsyncPolicy = "interval"


class OutputExistsError(HubmemError):
    kind = "output_exists"
    exit_code = 2
    default_hint = "Pass --resume to continue that scan, or --overwrite to start again."


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


# -- terminal: progress bar and summary (stderr) ----------------------------------------------------------


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
    )  # fmt: skip
