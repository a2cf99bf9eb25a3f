"""The ``hubmem`` click group (``hubmem REPO`` runs ``report``) with its commands."""

from __future__ import annotations

import sys
from typing import Any

import click

from hubmem._version import __version__
from hubmem.cli.catalog import catalog_group
from hubmem.cli.console import click_error, err_console, fail
from hubmem.cli.report import check_cmd, demo_cmd, report_cmd
from hubmem.cli.scan import scan_cmd
from hubmem.cli.serve import serve_cmd
from hubmem.render.safe import line


class _DefaultGroup(click.Group):
    """``hubmem REPO ...`` runs ``report``; named subcommands run themselves."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
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
            fail(click_error(exc))
        except click.exceptions.Abort:
            err_console.print(line("hubmem: interrupted"))
            sys.exit(130)


@click.group(cls=_DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="hubmem")
def main() -> None:
    """How much memory does a Hugging Face model need, exactly?

    \b
    hubmem meta-llama/Llama-3.1-8B              weights (exact), KV cache and training (projected)
    hubmem Qwen/Qwen3-8B --context 32768 --batch 4 --kv-dtype fp8
    hubmem demo                                  the same, offline, against the bundled fake Hub
    """


for _command in (report_cmd, check_cmd, demo_cmd, scan_cmd, serve_cmd, catalog_group):
    main.add_command(_command)
