"""Pydantic models of every report and option (one schema for CLI, API and service).

These modules do without ``from __future__ import annotations``: pydantic reads each field's type as an
object instead of compiling its string when the class is built (tests/test_cli_startup.py)."""
