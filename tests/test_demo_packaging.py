"""`hubmem demo` after a plain `pip install` (issue #14): the wheel ships the fake Hub's fixtures inside the
package (pyproject.toml's force-include -> hubmem/_demo) and the demo finds them there when no source
checkout is beside the package."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from hubmem.fakehub.fixtures import layout
from hubmem.fakehub.fixtures.layout import PACKAGED_FIXTURES, REPOS_DIR, TOKENS_FILE, default_fixtures_dir

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_ships_the_fixtures_where_the_demo_looks() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    included = config["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert included == {
        f"fixtures/{REPOS_DIR}": f"hubmem/{PACKAGED_FIXTURES}/{REPOS_DIR}",
        f"fixtures/{TOKENS_FILE}": f"hubmem/{PACKAGED_FIXTURES}/{TOKENS_FILE}",
    }


def test_an_installed_package_finds_its_own_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site-packages"
    module = site / "hubmem" / "fakehub" / "fixtures" / "layout.py"
    module.parent.mkdir(parents=True)
    monkeypatch.setattr(layout, "__file__", str(module))
    monkeypatch.delenv("HUBMEM_FIXTURES", raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_fixtures_dir() == tmp_path / "fixtures"  # nothing shipped: ./fixtures, as before
    (site / "hubmem" / PACKAGED_FIXTURES / REPOS_DIR).mkdir(parents=True)
    assert default_fixtures_dir() == site / "hubmem" / PACKAGED_FIXTURES
    (site / "fixtures" / REPOS_DIR).mkdir(parents=True)  # a source checkout beside the package wins
    assert default_fixtures_dir() == site / "fixtures"


@pytest.mark.skipif(importlib.util.find_spec("hatchling") is None, reason="hatchling is not installed")
def test_the_wheel_holds_the_demo_fixtures(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("hubmem-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "hubmem/_demo/tokens.json" in names
    assert "hubmem/_demo/repos/meta-llama__Llama-3.1-8B/repo.json" in names
