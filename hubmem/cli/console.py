"""How the CLI reports errors: one line on stderr with a hint and the error kind's exit code."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console

from hubmem.errors import HubmemError

err_console = Console(stderr=True, highlight=False)


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
