"""How the CLI reports errors: one line on stderr with a hint and the error kind's exit code."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from hubmem.errors import BadOptionError, HubmemError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from hubmem.render.safe import Part


@functools.cache
def err_console() -> Console:
    """The stderr console, made on the first message: rich is not imported by a run that prints none (a
    ``--json`` report without warnings)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def err_line(*parts: Part) -> None:
    """One line on stderr from literal parts (hubmem.render.safe.line), never wrapped."""
    from hubmem.render.safe import line  # rich: only when there is something to print

    err_console().print(line(*parts), soft_wrap=True)


def fail(exc: HubmemError) -> None:
    """The error as one line and its hint (repo text printed literally, never as markup)."""
    err_line((f"hubmem: {exc.kind}:", "bold red"), " ", exc.message)
    if exc.hint:
        err_line(("hint: " + exc.hint, "dim"))
    sys.exit(exc.exit_code)


# what a value of these options looks like, for the hint of a bad value (click's parameter names)
_VALUE_HINTS = {
    "utilization": "a fraction, e.g. 0.9 (90% of the memory CUDA reports)",
    "context": "a whole number of tokens, e.g. 8192",
    "seq_len": "a whole number of tokens, e.g. 4096",
    "batch": "a whole number of sequences, e.g. 4",
    "micro_batch": "a whole number of sequences per GPU, e.g. 1",
    "gpus": "a whole number of GPUs, e.g. 8",
    "tensor_parallel_size": "a whole number of GPUs, e.g. 2",
    "rank": "a whole number, e.g. 16",
}


def click_error(exc: click.ClickException) -> UsageError:
    """A click usage error (bad value, unknown option, missing argument) as one hubmem line with a hint,
    instead of click's usage block."""
    if isinstance(exc, click.MissingParameter):
        return UsageError(exc.format_message().rstrip("."))
    if isinstance(exc, click.BadParameter) and exc.param is not None:
        name = exc.param.name or ""
        names = " / ".join(getattr(exc.param, "opts", [])) or name
        choices = getattr(exc.param.type, "choices", None)
        hint = _VALUE_HINTS.get(name) or (
            f"one of: {', '.join(map(str, choices))}" if choices else f"see `hubmem --help` for {names}"
        )
        message = exc.message.split(" is not one of ")[0] + " is not one of them" if choices else exc.message
        return BadOptionError(f"{names}: {message.rstrip('.')}", hint=hint)
    if isinstance(exc, click.NoSuchOption):
        return UsageError(
            exc.format_message(), hint="`hubmem --help` (or `hubmem COMMAND --help`) lists them"
        )
    return UsageError(exc.format_message())


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn hubmem errors into one clean line and an exit code; keep tracebacks for HUBMEM_DEBUG."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HubmemError as exc:
            fail(exc)
        except click.ClickException as exc:  # a usage check inside a command: one line, exit 2
            fail(click_error(exc))
        except KeyboardInterrupt:
            err_line("hubmem: interrupted")
            sys.exit(130)
        except Exception as exc:
            if os.environ.get("HUBMEM_DEBUG"):
                raise
            err_line(("hubmem: internal error:", "bold red"), f" {type(exc).__name__}: {exc}")
            err_line(("hint: rerun with HUBMEM_DEBUG=1 for a traceback, and please report it", "dim"))
            sys.exit(1)

    return wrapper
