"""Command line: ``hubmem REPO`` (the report), plus ``demo``, ``scan``, ``check`` and ``serve``.

Errors are one line on stderr with a hint, and a distinct exit code per kind (hubmem.errors);
set HUBMEM_DEBUG=1 to see a traceback for an unexpected failure.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import click
from pydantic import ValidationError
from rich.console import Console

from . import __version__
from .errors import HubmemError
from .pipeline import analyze_async, run_sync
from .render.text import print_report
from .schema.kv import KVOptions
from .schema.options import Options
from .schema.report import Report
from .schema.training import (
    Checkpointing,
    FSDPStrategy,
    Optimizer,
    Precision,
    TrainingMethod,
    TrainingOptions,
)

KV_DTYPES = ["auto", "bf16", "fp16", "fp32", "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_ds_mla"]
DEMO_TOKEN = "hf_hubmem_fixture_reader"  # fixtures/tokens.json: a token that may read the gated fixtures

err_console = Console(stderr=True, highlight=False)


class _DefaultGroup(click.Group):
    """``hubmem REPO ...`` runs ``report``; named subcommands run themselves."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["report", *args]
        return super().parse_args(ctx, args)


def fail(exc: HubmemError) -> None:
    err_console.print(f"[bold red]hubmem: {exc.kind}:[/] {exc.message}", markup=True, soft_wrap=True)
    if exc.hint:
        err_console.print(f"[dim]hint: {exc.hint}[/]", markup=True, soft_wrap=True)
    sys.exit(exc.exit_code)


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn hubmem errors into one clean line and an exit code; keep tracebacks for HUBMEM_DEBUG."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HubmemError as exc:
            fail(exc)
        except KeyboardInterrupt:
            err_console.print("hubmem: interrupted")
            sys.exit(130)
        except Exception as exc:
            if os.environ.get("HUBMEM_DEBUG"):
                raise
            err_console.print(
                f"[bold red]hubmem: internal error:[/] {type(exc).__name__}: {exc}", soft_wrap=True
            )
            err_console.print("[dim]hint: rerun with HUBMEM_DEBUG=1 for a traceback, and please report it[/]")
            sys.exit(1)

    return wrapper


def report_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by ``report`` and ``demo``."""
    decorators = [
        click.option(
            "--revision", default="main", show_default=True, help="Branch, tag, commit sha or refs/pr/N."
        ),
        click.option("--subfolder", default=None, help="Read weights (and config) below this folder."),
        click.option("--token", default=None, help="Hub token (default: HF_TOKEN or the saved login)."),
        click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON."),
        click.option("--bytes", "show_bytes", is_flag=True, help="Show exact byte counts beside sizes."),
        click.option(
            "--context", type=click.IntRange(min=1), default=None, help="Tokens per sequence [8192]."
        ),
        click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True, help="Sequences."),
        click.option(
            "--kv-dtype",
            type=click.Choice(KV_DTYPES),
            default="auto",
            show_default=True,
            help="KV cache dtype; auto = the model's activation dtype.",
        ),
        click.option(
            "--engine",
            type=click.Choice(["transformers", "vllm"]),
            default="transformers",
            show_default=True,
            help="KV view: tokens held (transformers) or what a paged engine reserves (vllm).",
        ),
        click.option(
            "--block-size", type=click.IntRange(min=1), default=None, help="vLLM block size [16; 64 for MLA]."
        ),
        click.option(
            "--max-num-batched-tokens",
            type=click.IntRange(min=1),
            default=8192,
            show_default=True,
            help="vLLM.",
        ),
        click.option(
            "--encoder-length", type=click.IntRange(min=1), default=None, help="Encoder tokens (enc-dec)."
        ),
        click.option(
            "--train",
            "train_method",
            type=click.Choice(get_args(TrainingMethod)),
            default=None,
            help="Training method to project [full]; with --gpu, the verdict is for training.",
        ),
        click.option(
            "--optimizer",
            type=click.Choice([*get_args(Optimizer), "adamw-fp32", "adamw-bf16"]),
            default="adamw",
            show_default=True,
            help="adamw = mixed-precision AdamW (2+2+12 B/param).",
        ),
        click.option(
            "--precision", type=click.Choice(get_args(Precision)), default="mixed", show_default=True
        ),
        click.option("--rank", type=click.IntRange(min=1), default=16, show_default=True, help="LoRA rank."),
        click.option(
            "--lora-targets", default="all-linear", show_default=True, help="q_proj,v_proj ... or all-linear."
        ),
        click.option(
            "--zero", type=click.Choice(["0", "1", "2", "3"]), default="0", show_default=True, help="ZeRO."
        ),
        click.option("--fsdp", type=click.Choice(get_args(FSDPStrategy)), default="none", show_default=True),
        click.option(
            "--tp",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="Tensor parallel (training).",
        ),
        click.option("--micro-batch", type=click.IntRange(min=1), default=1, show_default=True),
        click.option(
            "--seq-len", type=click.IntRange(min=1), default=4096, show_default=True, help="Training tokens."
        ),
        click.option(
            "--checkpointing", type=click.Choice(get_args(Checkpointing)), default="none", show_default=True
        ),
        click.option(
            "--gpus", type=click.IntRange(min=1), default=1, show_default=True, help="GPUs (TP / sharding)."
        ),
        click.option("--gpu", default=None, help="GPU kind for a fit verdict: h100, a100-80, l4, mi300x ..."),
        click.option(
            "--utilization",
            type=click.FloatRange(min=0, max=1, min_open=True),
            default=None,
            help="Usable fraction of GPU memory [0.9 inference, 1.0 training].",
        ),
    ]
    for d in reversed(decorators):
        fn = d(fn)
    return fn


def cache_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--no-cache / --cache-dir (the on-disk header cache, hubmem.fetch.cache)."""
    fn = click.option(
        "--cache-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Header cache folder [HUBMEM_CACHE, else the user cache dir].",
    )(fn)
    return click.option("--no-cache", is_flag=True, help="Do not read or write the header cache.")(fn)


def open_cache(kw: dict[str, Any]) -> Any:
    from .fetch.cache import HeaderCache

    return HeaderCache.from_options(kw.get("cache_dir"), no_cache=bool(kw.get("no_cache")))


def build_options(kw: dict[str, Any]) -> Options:
    kv = KVOptions(
        context=kw["context"],
        batch=kw["batch"],
        kv_dtype=kw["kv_dtype"],
        engine=kw["engine"],
        block_size=kw["block_size"],
        max_num_batched_tokens=kw["max_num_batched_tokens"],
        encoder_length=kw["encoder_length"],
    )
    try:
        training = TrainingOptions(
            method=kw["train_method"] or "full",
            optimizer=kw["optimizer"],
            precision=kw["precision"],
            rank=kw["rank"],
            lora_targets=kw["lora_targets"],
            zero=int(kw["zero"]),
            fsdp=kw["fsdp"],
            tensor_parallel=kw["tp"],
            micro_batch=kw["micro_batch"],
            seq_len=kw["seq_len"],
            gradient_checkpointing=kw["checkpointing"],
            gpus=kw["gpus"],
        )
    except ValidationError as exc:
        raise click.UsageError("; ".join(e["msg"] for e in exc.errors())) from None
    return Options(
        revision=kw["revision"],
        subfolder=kw["subfolder"],
        kv=kv,
        training=training,
        gpu=kw["gpu"],
        fit="training" if kw["train_method"] else "inference",
        gpu_utilization=kw["utilization"],
    )


def emit(report: Report, *, as_json: bool, show_bytes: bool) -> None:
    if as_json:
        click.echo(report.model_dump_json(indent=2))
    else:
        print_report(report, show_bytes=show_bytes)


@click.group(cls=_DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="hubmem")
def main() -> None:
    """How much memory does a Hugging Face model need, exactly?

    \b
    hubmem meta-llama/Llama-3.1-8B              weights (exact), KV cache and training (projected)
    hubmem Qwen/Qwen3-8B --context 32768 --batch 4 --kv-dtype fp8
    hubmem demo                                  the same, offline, against the bundled fake Hub
    """


@main.command("report")
@click.argument("repo")
@report_options
@click.option("--offline", is_flag=True, help="Read the repo from the local Hugging Face cache, no network.")
@click.option("--check", "with_check", is_flag=True, help="Add the cross-checks (see `hubmem check`).")
@cache_options
@guarded
def report_cmd(repo: str, **kw: Any) -> None:
    """Report on one Hub repo, a local checkpoint folder or a .safetensors file (the default command:
    `hubmem REPO`, `hubmem ./path/to/checkpoint`)."""
    from .pipeline import analyze_source
    from .render.check import print_check

    options = build_options(kw)
    report = analyze_source(
        repo, options, token=kw["token"], offline=kw["offline"], cache=open_cache(kw), check=kw["with_check"]
    )
    emit(report, as_json=kw["as_json"], show_bytes=kw["show_bytes"])
    if report.check is not None and not kw["as_json"]:
        print_check(report)


@main.command("check")
@click.argument("repo")
@click.option("--revision", default="main", show_default=True, help="Branch, tag, commit sha or refs/pr/N.")
@click.option("--subfolder", default=None, help="Read weights (and config) below this folder.")
@click.option("--token", default=None, help="Hub token (default: HF_TOKEN or the saved login).")
@click.option("--json", "as_json", is_flag=True, help="Print the cross-checks as JSON.")
@click.option("--offline", is_flag=True, help="Read the repo from the local Hugging Face cache, no network.")
@cache_options
@guarded
def check_cmd(repo: str, **kw: Any) -> None:
    """Cross-check a repo's index, Hub summary, config.json, file sizes and name against its headers.

    Exit status: 0 no mismatch, 1 at least one mismatch (errors keep their own codes)."""
    from .pipeline import analyze_source
    from .render.check import print_check

    options = Options(revision=kw["revision"], subfolder=kw["subfolder"])
    report = analyze_source(
        repo, options, token=kw["token"], offline=kw["offline"], cache=open_cache(kw), check=True
    )
    assert report.check is not None
    if kw["as_json"]:
        click.echo(report.check.model_dump_json(indent=2))
    else:
        print_check(report)
    sys.exit(0 if report.check.ok else 1)


@main.command("scan")
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
    from .scan import ScanFiles, ScanProgress, ScanSettings, parse_targets, print_summary, run_scan

    if kw["resume"] and kw["output"] is None:
        raise click.UsageError("--resume needs --output FILE")
    if kw["resume"] and kw["overwrite"]:
        raise click.UsageError("--resume and --overwrite exclude each other")
    targets = parse_targets(repos, default_revision=kw["revision"])
    options = Options(
        revision=kw["revision"],
        subfolder=kw["subfolder"],
        kv=KVOptions(context=kw["context"], batch=kw["batch"], kv_dtype=kw["kv_dtype"]),
    )
    settings = ScanSettings(
        options=options,
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


@main.command("demo")
@click.argument("repo", default="meta-llama/Llama-3.1-8B")
@report_options
@guarded
def demo_cmd(repo: str, **kw: Any) -> None:
    """Run the report offline against the bundled fake Hub (real metadata from fixtures/)."""
    from .fakehub import default_fixtures_dir, run_in_thread

    options = build_options(kw)
    token = kw["token"] or DEMO_TOKEN
    fixtures = default_fixtures_dir()
    with run_in_thread(fixtures) as hub:
        err_console.print(
            f"[dim]offline demo: fake Hub at {hub.endpoint} serving {fixtures}"
            " (real configs, headers only)[/]"
        )
        report = run_sync(lambda: analyze_async(repo, options, token=token, endpoint=hub.endpoint))
    emit(report, as_json=kw["as_json"], show_bytes=kw["show_bytes"])


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port.")
@click.option("--endpoint", default=None, help="Hub to read from [default: HF_ENDPOINT or huggingface.co].")
@click.option(
    "--use-server-token",
    is_flag=True,
    help="Callers who send no token use this server's own token (HF_TOKEN / login); default: anonymous.",
)
@click.option(
    "--cache-entries", type=click.IntRange(min=0), default=2048, show_default=True, help="Report LRU size."
)
@guarded
def serve_cmd(host: str, port: int, endpoint: str | None, use_server_token: bool, cache_entries: int) -> None:
    """Serve the HTTP API and web page (GET /v1/models/ORG/NAME, POST /v1/scan, /openapi.json)."""
    from huggingface_hub import get_token

    from .service import Settings, run

    server_token = get_token() if use_server_token else None
    if use_server_token and not server_token:
        raise click.UsageError("--use-server-token: no token found (HF_TOKEN or `hf auth login`).")
    run(
        Settings(endpoint=endpoint, server_token=server_token, cache_entries=cache_entries),
        host=host,
        port=port,
    )


if __name__ == "__main__":  # pragma: no cover
    main()
