"""The scan itself: ``concurrency`` repos in flight over one HubClient, a row per repo as each finishes."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hubmem.errors import HubmemError, InvalidRepoIdError
from hubmem.fetch.cache import HeaderCache
from hubmem.fetch.http.client import HubClient
from hubmem.fetch.hub import fetch_snapshot
from hubmem.fetch.revision import current_commit
from hubmem.pipeline import build_report
from hubmem.scan.input import Target
from hubmem.scan.output import error_line, ok_line
from hubmem.scan.progress import Progress
from hubmem.scan.summary import ScanSummary
from hubmem.schema.options import Options
from hubmem.schema.scan import ScanError, ScanRow


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
            try:
                current = await current_commit(client, t.repo_id, t.revision)
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
