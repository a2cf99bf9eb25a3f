"""``hubmem scan``: many repos, from a file of ids and/or the Hub's listing, into the catalog database
(``--db``) or to JSONL (and CSV)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hubmem.cli.console import err_console, guarded
from hubmem.cli.options import build_options, cache_options, open_cache, projection_options
from hubmem.pipeline import run_sync
from hubmem.scan.listing import SORTS, Listing

if TYPE_CHECKING:
    from hubmem.scan.input import Target
    from hubmem.scan.progress import ScanProgress
    from hubmem.scan.runner import ScanSettings
    from hubmem.scan.summary import ScanSummary

DEFAULT_DB = "catalog.sqlite"


def _shard(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    k, sep, n = value.partition("/")
    if sep and k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n):
        return int(k), int(n)
    raise click.BadParameter("K/N with 1 <= K <= N, e.g. 2/4")


@click.command("scan")
@click.argument("repos", type=click.File("r", encoding="utf-8"), required=False)
@click.option("--author", default=None, help="List the Hub's repos of this user or org.")
@click.option("--search", default=None, help="List the Hub's repos whose id contains this.")
@click.option(
    "--filter", "filters", multiple=True, help="List repos with this tag (gguf, llama ...); repeatable."
)
@click.option("--sort", type=click.Choice(SORTS), default=None, help="Listing order (descending).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many listed repos.")
@click.option(
    "--db",
    default=None,
    help=f"Catalog database: a SQLite file or a postgresql:// URL [{DEFAULT_DB} for listing scans].",
)
@click.option("--shard", callback=_shard, default=None, help="K/N: scan only this process's share (1-based).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSONL output, one row per repo [stdout] (instead of --db).",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write one summary row per repo (cross-check columns included) to this CSV.",
)
@click.option(
    "--resume", is_flag=True, help="Keep the output's ok rows still at the same commit; retry the rest."
)
@click.option("--overwrite", is_flag=True, help="Start the output files again.")
@click.option(
    "-j", "--concurrency", type=click.IntRange(1, 256), default=8, show_default=True, help="Repos at once."
)
@click.option("--revision", default="main", show_default=True, help="Revision of lines without @revision.")
@click.option("--subfolder", default=None, help="Read weights (and config) below this folder.")
@click.option("--token", default=None, help="Hub token (default: HF_TOKEN or the saved login).")
@click.option("--endpoint", default=None, help="Hub to read from [default: HF_ENDPOINT or huggingface.co].")
@click.option(
    "--check/--no-check", "with_check", default=True, show_default=True, help="Cross-check columns."
)
@projection_options
@click.option("--max-retries", type=click.IntRange(0, 20), default=5, show_default=True, help="Per request.")
@click.option(
    "--max-wait",
    type=click.FloatRange(0),
    default=300.0,
    show_default=True,
    help="Longest server-requested pause (Retry-After) to sit through, in seconds.",
)
@click.option(
    "--fsync",
    type=click.Choice(["row", "interval", "none"]),
    default="interval",
    show_default=True,
    help="fsync the output after every row, about once a second, or never.",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    default=None,
    help="Processes that build reports (0: all in this process; default: the reports of repos with 20,000 "
    "tensors or more in one process per spare core).",
)
@cache_options
@guarded
def scan_cmd(repos: Any, **kw: Any) -> None:
    """Scan many repos: REPOS is a file (or - for stdin) of repo ids, one per line, optionally
    `org/name@revision` (`#` comments and blank lines are ignored), and/or the Hub's listing
    (--author, --search, --filter, --sort, --limit).

    \b
    hubmem scan --author Qwen --db catalog.sqlite               incremental: only new commits are read
    hubmem scan --filter gguf --sort downloads --limit 1000 --gpu h100 --context 32768
    hubmem scan models.txt -o out.jsonl --csv out.csv
    hubmem scan models.txt -o out.jsonl --resume                after an interruption

    Exit status: 0 when every repo was analysed, 1 when some failed (their rows say why)."""
    from hubmem.scan.summary import print_summary

    listing = Listing(kw["author"], kw["search"], tuple(kw["filters"]), kw["sort"], kw["limit"])
    db = _check_usage(repos, listing, kw)
    summary = run_sync(lambda: _scan(repos, listing, db, kw))
    print_summary(summary, err_console())
    if db is not None:
        err_console().print(f"[dim]catalog: {_shown(db)}[/]", highlight=False)
    sys.exit(0 if summary.failed_total == 0 else 1)


def _check_usage(repos: Any, listing: Listing, kw: dict[str, Any]) -> str | None:
    """The catalog to write (None: JSONL), after the usage checks."""
    if repos is None and not listing.given:
        raise click.UsageError(
            "Name the repos: a file of ids (or - for stdin), or --author/--search/--filter."
        )
    db: str | None = kw["db"]
    if db is not None and (kw["output"] is not None or kw["csv_path"] is not None):
        raise click.UsageError("--db or -o/--csv, not both (a catalog exports with `hubmem catalog export`).")
    if db is None and listing.given and kw["output"] is None:
        db = DEFAULT_DB
    if db is None and kw["resume"] and kw["output"] is None:
        raise click.UsageError("--resume needs --output FILE")
    if kw["resume"] and kw["overwrite"]:
        raise click.UsageError("--resume and --overwrite exclude each other")
    if kw["gpu"] is not None:
        from hubmem.catalog.query import canonical_gpu

        canonical_gpu(kw["gpu"])  # an unknown kind stops here, not once per repo
    return db


def _shown(db: str) -> str:
    from hubmem.catalog.dialect import describe

    return describe(db)


async def _scan(repos: Any, listing: Listing, db: str | None, kw: dict[str, Any]) -> ScanSummary:
    from hubmem.scan.progress import ScanProgress

    settings = _settings(kw)
    targets = await _targets(repos, listing, settings.endpoint, settings.token, kw)
    with ScanProgress(len(targets), console=err_console(), enabled=not kw["no_progress"]) as bar:
        if db is not None:
            return await _into_catalog(targets, settings, db, bar, kw)
        return await _into_files(targets, settings, bar, kw)


def _settings(kw: dict[str, Any]) -> ScanSettings:
    from hubmem.scan.runner import ScanSettings

    return ScanSettings(
        options=build_options(kw),
        concurrency=kw["concurrency"],
        check=kw["with_check"],
        endpoint=kw["endpoint"],
        token=kw["token"],
        max_retries=kw["max_retries"],
        max_wait=kw["max_wait"],
        workers=kw["workers"],
    )


async def _targets(
    repos: Any, listing: Listing, endpoint: str | None, token: str | bool | None, kw: dict[str, Any]
) -> list[Target]:
    """The file's targets, then the listing's (a repo in both is scanned once), in this process's shard."""
    from hubmem.scan.input import parse_targets
    from hubmem.scan.listing import in_shard, listed_targets

    targets = parse_targets(repos, default_revision=kw["revision"]) if repos is not None else []
    if listing.given:
        seen = {t.key for t in targets}
        spinner = err_console().status("listing the Hub's repos ...")
        with spinner if not kw["no_progress"] else contextlib.nullcontext():
            listed = await listed_targets(listing, endpoint=endpoint, token=token)
        targets += [t for t in listed if t.key not in seen]
    return [t for t in targets if in_shard(t.repo_id, kw["shard"])]


async def _into_catalog(
    targets: list[Target], settings: ScanSettings, db: str, bar: ScanProgress, kw: dict[str, Any]
) -> ScanSummary:
    from hubmem.catalog.store import Store
    from hubmem.scan.incremental import scan_into_catalog

    store = Store.open(db)
    try:
        return await scan_into_catalog(targets, settings, store, cache=open_cache(kw), progress=bar)
    finally:
        store.close()


async def _into_files(
    targets: list[Target], settings: ScanSettings, bar: ScanProgress, kw: dict[str, Any]
) -> ScanSummary:
    from hubmem.scan.files import ScanFiles, run_scan

    files = ScanFiles(
        output=kw["output"],
        csv=kw["csv_path"],
        resume=kw["resume"],
        overwrite=kw["overwrite"],
        fsync=kw["fsync"],
    )

    def resumed(existing: Any) -> None:
        dropped = existing.dropped_failed + existing.dropped_torn + existing.dropped_bad
        err_console().print(
            f"[dim]resume: {existing.kept} rows kept; dropped {existing.dropped_failed} failed (retried), "
            f"{existing.dropped_torn} torn, {existing.dropped_bad} unreadable, "
            f"{existing.dropped_superseded} superseded[/]"
            if dropped or existing.dropped_superseded
            else f"[dim]resume: {existing.kept} rows kept[/]"
        )

    return await run_scan(targets, settings, files, cache=open_cache(kw), progress=bar, on_resume=resumed)
