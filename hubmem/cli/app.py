"""The ``hubmem`` click group (``hubmem REPO`` runs ``report``) and its error handling."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console

from hubmem import __version__
from hubmem.errors import HubmemError

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


@click.group(cls=_DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="hubmem")
def main() -> None:
    """How much memory does a Hugging Face model need, exactly?

    \b
    hubmem meta-llama/Llama-3.1-8B              weights (exact), KV cache and training (projected)
    hubmem Qwen/Qwen3-8B --context 32768 --batch 4 --kv-dtype fp8
    hubmem demo                                  the same, offline, against the bundled fake Hub
    """
