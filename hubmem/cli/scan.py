"""``hubmem scan``: many repos to JSONL (and CSV)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from hubmem.cli.console import err_console, guarded
from hubmem.cli.options import KV_DTYPES, cache_options, open_cache, usage_error
from hubmem.pipeline import run_sync
from hubmem.schema.kv import KVOptions
from hubmem.schema.options import Options


@click.command("scan")
@click.argument("repos", type=click.File("r", encoding="utf-8"))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSONL output, one row per repo [stdout].",
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
@click.option("--context", type=click.IntRange(min=1), default=None, help="Tokens per sequence [8192].")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True, help="Sequences.")
@click.option(
    "--kv-dtype", type=click.Choice(KV_DTYPES), default="auto", show_default=True, help="KV cache dtype."
)
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
    default=0,
    show_default=True,
    help="Processes that build reports (0: in this process; raise it for CPU-bound scans of big MoE repos).",
)
@cache_options
@guarded
def scan_cmd(repos: Any, **kw: Any) -> None:
    """Scan many repos: REPOS is a file (or - for stdin) of repo ids, one per line, optionally
    `org/name@revision`; `#` comments and blank lines are ignored.

    \b
    hubmem scan models.txt -o out.jsonl --csv out.csv
    hubmem scan models.txt -o out.jsonl --resume      after an interruption

    Exit status: 0 when every repo was analysed, 1 when some failed (their rows say why)."""
    from hubmem.scan.files import ScanFiles, run_scan
    from hubmem.scan.input import parse_targets
    from hubmem.scan.progress import ScanProgress
    from hubmem.scan.runner import ScanSettings
    from hubmem.scan.summary import print_summary

    if kw["resume"] and kw["output"] is None:
        raise click.UsageError("--resume needs --output FILE")
    if kw["resume"] and kw["overwrite"]:
        raise click.UsageError("--resume and --overwrite exclude each other")
    targets = parse_targets(repos, default_revision=kw["revision"])
    settings = ScanSettings(
        options=_scan_options(kw),
        concurrency=kw["concurrency"],
        check=kw["with_check"],
        endpoint=kw["endpoint"],
        token=kw["token"],
        max_retries=kw["max_retries"],
        max_wait=kw["max_wait"],
        workers=kw["workers"],
    )
    files = ScanFiles(
        output=kw["output"],
        csv=kw["csv_path"],
        resume=kw["resume"],
        overwrite=kw["overwrite"],
        fsync=kw["fsync"],
    )

    def resumed(existing: Any) -> None:
        dropped = existing.dropped_failed + existing.dropped_torn + existing.dropped_bad
        err_console.print(
            f"[dim]resume: {existing.kept} rows kept; dropped {existing.dropped_failed} failed (retried), "
            f"{existing.dropped_torn} torn, {existing.dropped_bad} unreadable, "
            f"{existing.dropped_superseded} superseded[/]"
            if dropped or existing.dropped_superseded
            else f"[dim]resume: {existing.kept} rows kept[/]"
        )

    with ScanProgress(len(targets), console=err_console, enabled=not kw["no_progress"]) as bar:
        summary = run_sync(
            lambda: run_scan(targets, settings, files, cache=open_cache(kw), progress=bar, on_resume=resumed)
        )
    print_summary(summary, err_console)
    sys.exit(0 if summary.failed_total == 0 else 1)


def _scan_options(kw: dict[str, Any]) -> Options:
    try:
        return Options(
            revision=kw["revision"],
            subfolder=kw["subfolder"],
            kv=KVOptions(context=kw["context"], batch=kw["batch"], kv_dtype=kw["kv_dtype"]),
        )
    except ValidationError as exc:
        raise usage_error(exc) from None
