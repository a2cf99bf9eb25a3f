"""Command line: ``hubmem REPO`` (the report), plus ``demo``, ``scan``, ``check`` and ``serve``.

Errors are one line on stderr with a hint, and a distinct exit code per kind (hubmem.errors);
set HUBMEM_DEBUG=1 to see a traceback for an unexpected failure.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console

from . import __version__
from .errors import HubmemError
from .pipeline import analyze_async, run_sync
from .render.text import print_report
from .schema.kv import KVOptions
from .schema.options import Options
from .schema.report import Report
from .schema.training import TrainingOptions

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
        except Exception as exc:  # noqa: BLE001 - the last line of defence for the CLI
            if os.environ.get("HUBMEM_DEBUG"):
                raise
            err_console.print(f"[bold red]hubmem: internal error:[/] {type(exc).__name__}: {exc}", soft_wrap=True)
            err_console.print("[dim]hint: rerun with HUBMEM_DEBUG=1 for a traceback, and please report it[/]")
            sys.exit(1)

    return wrapper


def report_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by ``report`` and ``demo``."""
    decorators = [
        click.option("--revision", default="main", show_default=True, help="Branch, tag, commit sha or refs/pr/N."),
        click.option("--subfolder", default=None, help="Read weights (and config) below this folder."),
        click.option("--token", default=None, help="Hub token (default: HF_TOKEN or the saved login)."),
        click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON."),
        click.option("--bytes", "show_bytes", is_flag=True, help="Show exact byte counts beside sizes."),
        click.option("--context", type=click.IntRange(min=1), default=None, help="Tokens per sequence [8192]."),
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
        click.option("--block-size", type=click.IntRange(min=1), default=None, help="vLLM block size [16; 64 for MLA]."),
        click.option(
            "--max-num-batched-tokens", type=click.IntRange(min=1), default=8192, show_default=True, help="vLLM."
        ),
        click.option("--encoder-length", type=click.IntRange(min=1), default=None, help="Encoder tokens (enc-dec)."),
        click.option(
            "--train",
            "train_method",
            type=click.Choice(["full", "lora", "qlora"]),
            default="full",
            show_default=True,
            help="Training method to project.",
        ),
        click.option("--gpus", type=click.IntRange(min=1), default=1, show_default=True, help="GPUs to shard over."),
    ]
    for d in reversed(decorators):
        fn = d(fn)
    return fn


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
    training = TrainingOptions(method=kw["train_method"], gpus=kw["gpus"])
    return Options(revision=kw["revision"], subfolder=kw["subfolder"], kv=kv, training=training)


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
@guarded
def report_cmd(repo: str, **kw: Any) -> None:
    """Report on one Hub repo (the default command: `hubmem REPO`)."""
    options = build_options(kw)
    token = kw["token"]
    report = run_sync(lambda: analyze_async(repo, options, token=token))
    emit(report, as_json=kw["as_json"], show_bytes=kw["show_bytes"])


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
            f"[dim]offline demo: fake Hub at {hub.endpoint} serving {fixtures} (real configs, headers only)[/]"
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
