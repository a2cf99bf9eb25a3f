"""Developer scripts, run from the repository root as modules: ``.venv/bin/python -m scripts.<group>.<name>``.
None of them is part of the hubmem package.

- ``scripts.check``: the test command (ruff, mypy, then pytest);
- ``scripts.bench``: benchmarks against the fake Hub (results in scripts/BENCHMARKS.md);
- ``scripts.validate``: hubmem's projections against torch / transformers (results in scripts/VALIDATION.md);
- ``scripts.fixtures``: the builder of fixtures/;
- ``scripts.results``: the marked results sections those documents are made of.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository root
