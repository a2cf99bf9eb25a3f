"""How the CLI reports errors: one line on stderr with a hint and the error kind's exit code."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console

from hubmem.errors import HubmemError, UsageError
from hubmem.render.safe import line

err_console = Console(stderr=True, highlight=False)


def fail(exc: HubmemError) -> None:
    """The error as one line and its hint (repo text printed literally, never as markup)."""
    err_console.print(line((f"hubmem: {exc.kind}:", "bold red"), " ", exc.message), soft_wrap=True)
    if exc.hint:
        err_console.print(line(("hint: " + exc.hint, "dim")), soft_wrap=True)
    sys.exit(exc.exit_code)


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn hubmem errors into one clean line and an exit code; keep tracebacks for HUBMEM_DEBUG."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HubmemError as exc:
            fail(exc)
        except click.ClickException as exc:  # a usage check inside a command: one line, exit 2
            fail(UsageError(exc.format_message()))
        except KeyboardInterrupt:
            err_console.print(line("hubmem: interrupted"))
            sys.exit(130)
        except Exception as exc:
            if os.environ.get("HUBMEM_DEBUG"):
                raise
            err_console.print(
                line(("hubmem: internal error:", "bold red"), f" {type(exc).__name__}: {exc}"), soft_wrap=True
            )
            err_console.print(
                line(("hint: rerun with HUBMEM_DEBUG=1 for a traceback, and please report it", "dim"))
            )
            sys.exit(1)

    return wrapper
