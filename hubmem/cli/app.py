"""The ``hubmem`` click group (``hubmem REPO`` runs ``report``) with its commands.

Each command's module is imported when the command runs, not before: ``hubmem --help`` lists the commands from
:data:`COMMANDS` (their one-line help, kept equal to the commands' own by a test) without importing the
pipeline, the HTTP client, pydantic schemas or rich."""

from __future__ import annotations

import gc
import importlib
import sys
from typing import Any

import click

from hubmem._gc import cyclic_gc_paused
from hubmem._version import __version__

# name -> (module, attribute, the command's one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "catalog": (
        "hubmem.cli.catalog",
        "catalog_group",
        "Query and export the catalog that `hubmem scan --db` writes (SQLite or PostgreSQL).",
    ),
    "check": (
        "hubmem.cli.report",
        "check_cmd",
        "Cross-check a repo's index, Hub summary, config.json, file sizes and name against its headers.",
    ),
    "demo": (
        "hubmem.cli.report",
        "demo_cmd",
        "Run the report offline against the bundled fake Hub (real metadata from fixtures/).",
    ),
    "report": (
        "hubmem.cli.report",
        "report_cmd",
        "Report on one Hub repo, a local checkpoint folder or a .safetensors / .gguf file (the default "
        "command: `hubmem REPO`).",
    ),
    "scan": (
        "hubmem.cli.scan",
        "scan_cmd",
        "Scan many repos: REPOS is a file (or - for stdin) of repo ids, one per line, optionally "
        "`org/name@revision` (`#` comments and blank lines are ignored), and/or the Hub's listing (--author, "
        "--search, --filter, --sort, --limit).",
    ),
    "serve": (
        "hubmem.cli.serve",
        "serve_cmd",
        "Serve the HTTP API and web pages (GET /v1/models/ORG/NAME, POST /v1/scan, GET /v1/catalog, "
        "/catalog, /openapi.json).",
    ),
}


class _LazyGroup(click.Group):
    """``hubmem REPO ...`` runs ``report``; named subcommands run themselves, imported on first use."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in COMMANDS and args[0] not in ("--help", "-h", "--version"):
            args = ["report", *args]
        return super().parse_args(ctx, args)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """click's own usage errors (a bad value, an unknown option) as one line and a hint, like every
        other error, instead of the usage block."""
        kwargs.pop("standalone_mode", None)
        try:
            return super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[call-overload]
        except click.exceptions.NoArgsIsHelpError as exc:  # `hubmem` alone: the help
            click.echo(exc.ctx.get_help() if exc.ctx else exc.format_message())
            sys.exit(2)
        except click.ClickException as exc:
            from hubmem.cli.console import click_error, fail  # rich: not imported for --help

            fail(click_error(exc))
        except click.exceptions.Abort:
            from hubmem.cli.console import err_line

            err_line("hubmem: interrupted")
            sys.exit(130)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        with cyclic_gc_paused():  # imports make only objects that live as long as the process ...
            module = importlib.import_module(spec[0])
            gc.freeze()  # ... so no collection scans them, neither on the way out of the pause nor later
        command = getattr(module, spec[1])
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [
            (name, click.Command(name, help=spec[2]).get_short_help_str(limit))
            for name, spec in sorted(COMMANDS.items())
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="hubmem")
def main() -> None:
    """How much memory does a Hugging Face model need, exactly?

    \b
    hubmem meta-llama/Llama-3.1-8B              weights (exact), KV cache and training (projected)
    hubmem Qwen/Qwen3-8B --context 32768 --batch 4 --kv-dtype fp8
    hubmem demo                                  the same, offline, against the bundled fake Hub
    """
