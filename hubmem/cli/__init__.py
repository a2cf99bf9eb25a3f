"""Command line: ``hubmem REPO`` (the report), plus ``demo``, ``scan``, ``check`` and ``serve``.

Errors are one line on stderr with a hint, and a distinct exit code per kind (hubmem.errors);
set HUBMEM_DEBUG=1 to see a traceback for an unexpected failure.
"""
