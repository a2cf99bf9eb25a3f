"""Command line: ``hubmem REPO`` (the report), plus ``demo``, ``scan``, ``check`` and ``serve``.

Errors are one line on stderr with a hint, and a distinct exit code per kind (hubmem.errors);
set HUBMEM_DEBUG=1 to see a traceback for an unexpected failure.
"""

from __future__ import annotations

from .app import err_console, fail, guarded, main
from .options import KV_DTYPES, build_options, cache_options, open_cache, report_options

# importing the command modules registers their commands on ``main``
from .report import DEMO_TOKEN, check_cmd, demo_cmd, emit, report_cmd
from .scan import scan_cmd
from .serve import serve_cmd

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
