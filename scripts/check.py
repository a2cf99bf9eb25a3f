"""The test command (README Quick start, .ci/run): lint, types, then the whole suite on every core.

    .venv/bin/python -m scripts.check                  # ruff check, ruff format --check, mypy, pytest -n auto
    .venv/bin/python -m scripts.check -m "not e2e" -x  # arguments it does not know go to pytest
    .venv/bin/python -m scripts.check --no-lint -k kv  # pytest only
    .venv/bin/python -m scripts.check --lint-only      # ruff and mypy only

Run from the repository root. Every step runs even when an earlier one failed, so one run reports everything;
the exit status is 0 only when every step passed. pytest runs last and nothing is printed after its summary
on success. The tools are the ones installed beside this interpreter (pip install -e '.[dev]').
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence

from scripts import ROOT

LINTED = ("hubmem", "tests", "scripts")


def steps(lint: bool, tests: bool, pytest_args: Sequence[str]) -> list[tuple[str, list[str]]]:
    py = sys.executable
    out: list[tuple[str, list[str]]] = []
    if lint:
        out += [
            ("ruff check", [py, "-m", "ruff", "check", *LINTED]),
            ("ruff format", [py, "-m", "ruff", "format", "--check", *LINTED]),
            ("mypy", [py, "-m", "mypy"]),  # what it checks, and how strictly: [tool.mypy] in pyproject.toml
        ]
    if tests:
        # -n auto: one pytest-xdist worker per CPU; a later -n in pytest_args wins
        out.append(("pytest", [py, "-m", "pytest", "-n", "auto", *pytest_args]))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m scripts.check",
        description=__doc__,
        allow_abbrev=False,  # a pytest option must never be taken for an abbreviation of ours
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    only = ap.add_mutually_exclusive_group()
    only.add_argument("--no-lint", action="store_true", help="skip ruff and mypy")
    only.add_argument("--lint-only", action="store_true", help="skip pytest")
    args, pytest_args = ap.parse_known_args(argv)
    failed = []
    for name, cmd in steps(not args.no_lint, not args.lint_only, pytest_args):
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        if subprocess.run(cmd, cwd=ROOT).returncode != 0:
            failed.append(name)
    if failed:
        print(f"check failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
