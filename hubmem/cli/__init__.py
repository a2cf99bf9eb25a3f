"""Command line: ``hubmem REPO`` (the report), plus ``demo``, ``scan``, ``check`` and ``serve``.

Errors are one line on stderr with a hint, and a distinct exit code per kind (hubmem.errors);
set HUBMEM_DEBUG=1 to see a traceback for an unexpected failure.
"""

from __future__ import annotations

from hubmem.cli.app import err_console, fail, guarded, main
from hubmem.cli.options import KV_DTYPES, build_options, cache_options, open_cache, report_options

# importing the command modules registers their commands on ``main``
from hubmem.cli.report import DEMO_TOKEN, check_cmd, demo_cmd, emit, report_cmd
from hubmem.cli.scan import scan_cmd
from hubmem.cli.serve import serve_cmd

__all__ = [
    "DEMO_TOKEN",
    "KV_DTYPES",
    "build_options",
    "cache_options",
    "check_cmd",
    "demo_cmd",
    "emit",
    "err_console",
    "fail",
    "guarded",
    "main",
    "open_cache",
    "report_cmd",
    "report_options",
    "scan_cmd",
    "serve_cmd",
]
