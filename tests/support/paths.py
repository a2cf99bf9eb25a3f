"""The committed fixtures (fixtures/ at the repository root) and loaders for them.

A committed fixture that is missing is a broken checkout, not an optional extra: every helper here fails the
test (or the collection, when called at import time) with the missing path, it never skips.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
REPOS = FIXTURES / "repos"
THEORY = FIXTURES / "theory"
DATA = ROOT / "tests" / "data"  # small committed extracts of measurements (tests/data/README.md)
REBUILD = ".venv/bin/python -m scripts.fixtures.build"


def committed(path: Path) -> Path:
    """``path`` itself; fails the test when it does not exist."""
    if not path.exists():
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        pytest.fail(f"missing committed fixture {shown} (built by {REBUILD})", pytrace=False)
    return path


def fixture_path(*parts: str | Path) -> Path:
    """``fixtures/<parts...>``, normalised (so ``files/../corpus/x`` needs no ``files/`` folder); fails the
    test when it is absent."""
    return committed(Path(os.path.normpath(FIXTURES.joinpath(*parts))))


def repo_dir(repo: str) -> Path:
    """``fixtures/repos/<org>__<name>``; ``repo`` is a repo id (``org/name``) or the folder name."""
    return fixture_path("repos", repo.replace("/", "__"))


def repo_file(repo: str, name: str = "config.json") -> Path:
    """A file the fake Hub serves for ``repo`` (``files/<name>``; ``../corpus/x`` reaches the corpus)."""
    return fixture_path("repos", repo.replace("/", "__"), "files", name)


def load_json(path: Path) -> Any:
    return json.loads(committed(path).read_text())


def repo_config(repo: str, name: str = "config.json") -> dict[str, Any]:
    """The JSON object in ``files/<name>`` of a fixture repo (config.json unless told)."""
    data = load_json(repo_file(repo, name))
    assert isinstance(data, dict), f"{repo}/{name} is not a JSON object"
    return data


def repo_meta(repo: str) -> dict[str, Any]:
    """``repo.json`` of a fixture repo (the fake Hub's metadata: files, sizes, refs, gating)."""
    data = load_json(repo_dir(repo) / "repo.json")
    assert isinstance(data, dict)
    return data


def fixture_glob(pattern: str) -> list[Path]:
    """Sorted matches of ``pattern`` under fixtures/; fails when nothing matches (a parametrization over an
    empty fixture set would otherwise pass vacuously)."""
    found = sorted(FIXTURES.glob(pattern))
    if not found:
        pytest.fail(f"no committed fixture matches fixtures/{pattern}", pytrace=False)
    return found
