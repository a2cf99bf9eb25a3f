"""The scan itself: ``concurrency`` repos in flight over one HubClient, a row per repo as each finishes."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import time
from collections.abc import Callable, Iterator

import msgspec

from hubmem.errors import HubmemError, InvalidRepoIdError
from hubmem.fetch.cache.store import HeaderCache
from hubmem.fetch.http.client import HubClient
from hubmem.fetch.http.trace import Trace
from hubmem.fetch.hub import fetch_snapshot
from hubmem.fetch.revision import current_commit, resolved_sha, revision_info, snapshot_expand
from hubmem.pipeline import build_report
from hubmem.scan.input import Target
from hubmem.scan.output import error_line, ok_line
from hubmem.scan.progress import Progress
from hubmem.scan.reports import StoredReports
from hubmem.scan.summary import ScanSummary
from hubmem.schema.options import Options
from hubmem.schema.report import FetchInfo, Report
from hubmem.schema.scan import ScanError, ScanRow
from hubmem.snapshot import FetchStats, Snapshot

PROCESS_TENSORS = 20_000  # auto workers: snapshots with this many tensors are built in a worker process
# smaller snapshots are built in the event loop itself (at most ~15 ms; bench.scan, 240 small repos: 17.6 ->
# 16.1 ms CPU per repo against a hop to a thread, whose wake-up and GIL hand-offs cost more than they free)
INLINE_TENSORS = 5_000


def auto_workers() -> int:
    """Worker processes of the auto mode: every core but the one the event loop runs on (1 to 4)."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def tensor_count(snapshot: Snapshot) -> int:
    """Tensors the snapshot's headers list (safetensors entries, GGUF tensor infos)."""
    return sum(len(f.tensor_names()) for f in snapshot.files)


class ScanSettings(msgspec.Struct):
    options: Options = msgspec.field(default_factory=Options)
    concurrency: int = 8
    check: bool = True
    endpoint: str | None = None
    token: str | bool | None = None
    max_retries: int = 5
    max_wait: float = 300.0
    backoff_base: float = 0.5
    timeout: float = 30.0
    # processes building reports: 0 builds every report in this process (in a thread from INLINE_TENSORS
    # tensors, else in the event loop), N > 0 every report in N worker processes, None (auto) the reports of
    # snapshots of ``process_tensors`` tensors or more in :func:`auto_workers` processes (big MoE checkpoints:
    # ~1 s of CPU each, which then overlaps the fetching of the next repos instead of holding the event loop's
    # process), the others in this process as with 0
    workers: int | None = None
    process_tensors: int = PROCESS_TENSORS


def _build_report_job(snapshot: Snapshot, options: Options, seconds: float, check: bool) -> Report:
    """Run in a worker process: the report of one snapshot (pickled both ways)."""
    return build_report(snapshot, options, seconds=seconds, check=check)


def _error_of(exc: BaseException) -> ScanError:
    if isinstance(exc, HubmemError):
        return ScanError(kind=exc.kind, message=exc.message, hint=exc.hint)
    return ScanError(
        kind="internal",
        message=f"{type(exc).__name__}: {exc}",
        hint="An unexpected failure; rerun this repo with HUBMEM_DEBUG=1 and please report it.",
    )


class _Scan:
    """One scan in flight: the shared client, where reports are built, and the counts."""

    def __init__(
        self,
        settings: ScanSettings,
        client: HubClient,
        write_row: Callable[[bytes, ScanRow], None],
        done: dict[tuple[str, str], str | None],
        cache: HeaderCache | None,
        progress: Progress | None,
    ) -> None:
        self.settings, self.client, self.write_row = settings, client, write_row
        self.done, self.cache, self.progress = done, cache, progress
        self.summary = ScanSummary()
        self.pool: concurrent.futures.ProcessPoolExecutor | None = None  # started on first use
        # the reports earlier scans with these settings kept (with the header cache)
        self.reports: StoredReports | None = None
        if cache is not None:
            self.reports = StoredReports(cache, client.endpoint, settings.options, settings.check)

    def _tell(self, t: Target, outcome: str) -> None:
        if self.progress:
            self.progress(t, outcome)

    async def one(self, t: Target) -> None:
        """Analyse one target and write its row (a failure is a row too), unless resume skips it."""
        t0 = time.perf_counter()
        if t.key in self.done and await self._still_done(t):
            return
        try:
            row, line = await self._analyse(t, t0)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every failure becomes a row, the scan goes on
            row = ScanRow(
                repo_id=t.repo_id,
                revision=t.revision,
                ok=False,
                commit=t.commit,
                error=_error_of(exc),
                seconds=round(time.perf_counter() - t0, 4),
            )
            line = error_line(row)
            assert row.error is not None
            self.summary.failed[row.error.kind] += 1
        self.write_row(line, row)
        self.summary.rows_written += 1
        self._tell(t, "ok" if row.ok else "failed")

    async def _still_done(self, t: Target) -> bool:
        """Resume: skip a target whose ok row is still at the commit its revision resolves to now (the
        listing's commit, or one API request; a revision that cannot be resolved now keeps its row
        unverified)."""
        try:
            current = t.commit or await current_commit(self.client, t.repo_id, t.revision)
        except HubmemError:
            self.summary.unverified += 1
            self._tell(t, "skipped")
            return True
        if current is not None and current == self.done[t.key]:
            self.summary.skipped += 1
            self._tell(t, "skipped")
            return True
        return False

    async def _analyse(self, t: Target, t0: float) -> tuple[ScanRow, bytes]:
        """The pipeline for one target: the report kept by an earlier scan with these settings when the
        revision still resolves to its commit, else fetch a snapshot and build its report; the ok row and
        its line."""
        if not t.repo_id:
            raise InvalidRepoIdError(f"line {t.line}: empty repo id")
        settings = self.settings
        revision = t.commit or t.revision  # a listed target is read at the commit the listing gave
        subfolder = settings.options.subfolder
        spent = Trace(FetchStats())  # the kept report's revision request, when it found the branch moved
        if self.reports is not None and (kept := await self._kept(t, revision, t0, spent)) is not None:
            return kept
        snapshot = await fetch_snapshot(
            self.client,
            t.repo_id,
            revision=revision,
            subfolder=subfolder,
            with_hub_info=settings.check,
            list_tree=False,
            cache=self.cache,
        )
        if spent.depth:  # counted with this snapshot's: one more request, one more round trip before it
            stats = snapshot.stats
            stats.requests += spent.stats.requests
            stats.bytes_received += spent.stats.bytes_received
            stats.round_trips += spent.depth
        report = await self._build(snapshot, time.perf_counter() - t0)
        stats = snapshot.stats
        del snapshot  # big MoE headers: let them go before the row is serialised
        row, line, text = self._row(t, report, stats.requests, t0)
        self.summary.cache_hits += stats.cache_hits
        if self.reports is not None and report.commit is not None:
            await asyncio.to_thread(self.reports.store, t.repo_id, revision, subfolder, report.commit, text)
        return row, line

    def _row(self, t: Target, report: Report, requests: int, t0: float) -> tuple[ScanRow, bytes, str]:
        row = ScanRow(
            repo_id=t.repo_id,
            revision=t.revision,
            ok=True,
            commit=report.commit,
            seconds=round(time.perf_counter() - t0, 4),
            requests=requests,
        )
        text = report.model_dump_json()
        line = ok_line(row, text)
        row.report = report
        self.summary.ok += 1
        if report.check is not None and not report.check.ok:
            self.summary.mismatched += 1
        return row, line, text

    async def _kept(self, t: Target, revision: str, t0: float, trace: Trace) -> tuple[ScanRow, bytes] | None:
        """The row of the report an earlier scan kept for this revision, when the revision request made now
        (counted on ``trace``) resolves to the same commit in the same access scope; None otherwise (then the
        fetch asks again)."""
        reports, cache = self.reports, self.cache
        assert reports is not None and cache is not None
        # two small entries, read here as the fetch reads its hint (a hop to a thread costs more, and waits)
        stored = reports.find(t.repo_id, revision, self.settings.options.subfolder)
        if stored is None:
            return None
        expand = snapshot_expand(with_hub_info=self.settings.check, scoped=True)
        info = await revision_info(self.client, t.repo_id, revision, expand, trace=trace)
        client = self.client
        if info is None:
            return None
        sha = resolved_sha(info, t.repo_id, revision)
        if (sha, cache.commit_for(client.endpoint, t.repo_id, sha, info, client.token_id).scope) != (
            stored.sha,
            stored.scope,
        ):
            return None
        report = reports.report(stored, t.repo_id)
        if report is None:
            return None
        stats = trace.finish()
        report.fetch = FetchInfo(
            requests=stats.requests,
            bytes_received=stats.bytes_received,
            round_trips=stats.round_trips,
            cache_hits=1,
            seconds=round(time.perf_counter() - t0, 4),
        )
        self.summary.cache_hits += 1
        self.summary.reports_kept += 1
        row, line, _ = self._row(t, report, stats.requests, t0)
        return row, line

    def _process_pool(self, snapshot: Snapshot) -> concurrent.futures.ProcessPoolExecutor | None:
        """The worker processes for this snapshot's report, or None to build it in a thread."""
        workers = self.settings.workers
        if workers == 0 or (workers is None and tensor_count(snapshot) < self.settings.process_tensors):
            return None
        if self.pool is None:
            import multiprocessing

            self.pool = concurrent.futures.ProcessPoolExecutor(
                workers or auto_workers(), mp_context=multiprocessing.get_context("spawn")
            )
        return self.pool

    async def _build(self, snapshot: Snapshot, seconds: float) -> Report:
        """``build_report`` in a worker process (see ``ScanSettings.workers``) or a thread of this one."""
        options, check = self.settings.options, self.settings.check
        pool = self._process_pool(snapshot)
        if pool is not None:
            job = functools.partial(_build_report_job, snapshot, options, seconds, check)
            return await asyncio.get_running_loop().run_in_executor(pool, job)
        if tensor_count(snapshot) < INLINE_TENSORS:  # a few ms: the hop to a thread would cost ~1.5 ms more
            return build_report(snapshot, options, seconds=seconds, check=check)
        return await asyncio.to_thread(build_report, snapshot, options, seconds=seconds, check=check)


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
    requests_before, bytes_before = client.stats.requests, client.stats.bytes_received
    scan = _Scan(settings, client, write_row, done or {}, cache, progress)
    summary = scan.summary
    summary.total = len(targets)
    queue: Iterator[Target] = iter(targets)

    async def worker() -> None:
        for t in queue:  # one shared iterator: each target is taken by exactly one worker
            await scan.one(t)

    try:
        await asyncio.gather(*(worker() for _ in range(max(1, min(settings.concurrency, len(targets) or 1)))))
    finally:
        summary.seconds = time.perf_counter() - started
        summary.requests = client.stats.requests - requests_before
        summary.bytes_received = client.stats.bytes_received - bytes_before
        if own:
            await client.aclose()
        if scan.pool is not None:
            scan.pool.shutdown(wait=False, cancel_futures=True)
    return summary
