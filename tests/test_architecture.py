"""The package's shape, kept by tests: no import cycle (imports inside functions and under TYPE_CHECKING
included), package ``__init__`` files that hold only a docstring (no re-export facades), folders, modules
and functions of a readable size, and the public surface pinned (as httpx pins its ``__all__``)."""

from __future__ import annotations

import ast
import graphlib
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import hubmem

ROOT = Path(hubmem.__file__).parent
MAX_MODULES_PER_FOLDER = 12  # besides __init__.py and __main__.py
MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 60
LONG_FUNCTIONS_BEING_REWRITTEN: set[str] = set()  # TEMPORARY entries while a rewrite is under way
LONG_MODULES_BEING_REWRITTEN: set[str] = set()  # TEMPORARY, as above

# Which top-level parts of hubmem each part may import (README "Architecture"): the data flow, one way.
_CORE = {"errors", "_version", "_gc"}
MAY_IMPORT: dict[str, set[str]] = {
    "errors": set(),
    "_version": set(),
    "_gc": set(),
    "schema": set(),
    "snapshot": {"formats"},  # the validated safetensors header it holds
    "formats": {"errors", "_gc"},
    "parse": {"errors", "formats", "schema"},
    "fetch": _CORE | {"formats", "snapshot"},
    "estimate": _CORE | {"formats", "schema", "snapshot"},
    "check": _CORE | {"estimate", "formats", "schema", "snapshot"},
    "render": {"schema"},
    "pipeline": _CORE | {"check", "estimate", "fetch", "formats", "parse", "schema", "snapshot"},
    "catalog": _CORE | {"estimate", "schema"},  # estimate: the GPU catalog, for --fits h100
    "scan": _CORE | {"catalog", "fetch", "formats", "pipeline", "schema", "snapshot"},
    "service": _CORE | {"catalog", "fetch", "formats", "pipeline", "schema", "snapshot"},
    "fakehub": _CORE | {"fetch"},
    "cli": _CORE | {"catalog", "fakehub", "fetch", "pipeline", "render", "scan", "schema", "service"},
    "__main__": {"cli"},
    "hubmem": _CORE | {"fetch", "pipeline", "schema"},
}

PUBLIC = [
    "ConfigError",
    "CorruptHeaderError",
    "GatedRepoError",
    "HubClient",
    "HubmemError",
    "InvalidRepoIdError",
    "KVOptions",
    "NetworkError",
    "NoSafetensorsError",
    "OfflineError",
    "Options",
    "RateLimitedError",
    "RepoNotFoundError",
    "Report",
    "RevisionNotFoundError",
    "TrainingOptions",
    "UnauthorizedError",
    "__version__",
    "analyze",
    "analyze_async",
    "build_report",
]


def module_files() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imported_modules(module: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """Every hubmem module ``module`` imports, wherever the import statement stands."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            # importing an ancestor package is implied by importing anything below it
            if target and target != module and not module.startswith(target + "."):
                yield target


def import_cycle() -> list[str]:
    """One import cycle among hubmem's modules (empty when there is none)."""
    known = module_files()
    graph = {m: set(imported_modules(m, p, known)) for m, p in known.items()}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return []


def test_no_import_cycle() -> None:
    assert import_cycle() == []


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "hubmem"


def test_each_part_imports_only_what_comes_before_it() -> None:
    known = module_files()
    stray = sorted(
        f"{m} -> {target}"
        for m, path in known.items()
        for target in imported_modules(m, path, known)
        if _part(target) != _part(m) and _part(target) not in MAY_IMPORT[_part(m)]
    )
    assert stray == []


def test_the_cycle_detector_sees_a_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The detector itself: an import inside a function and one under TYPE_CHECKING form a cycle."""
    pkg = tmp_path / "hubmem"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('"""x"""\n')
    (pkg / "a.py").write_text("def f():\n    from hubmem import b\n")
    (pkg / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from hubmem.a import f\n"
    )
    monkeypatch.setattr(f"{__name__}.ROOT", pkg)
    assert sorted(set(import_cycle())) == ["hubmem.a", "hubmem.b"]


def test_package_inits_hold_only_a_docstring() -> None:
    facades = []
    for path in ROOT.rglob("__init__.py"):
        if path.parent == ROOT:
            continue  # hubmem/__init__.py is the public surface
        body = ast.parse(path.read_text(encoding="utf-8")).body
        if any(not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)) for n in body):
            facades.append(str(path.relative_to(ROOT.parent)))
    assert facades == []


def test_public_surface_is_pinned() -> None:
    assert sorted(hubmem.__all__) == sorted(PUBLIC)
    for name in PUBLIC:
        assert getattr(hubmem, name) is not None
    assert (ROOT / "py.typed").is_file()


def test_folders_and_modules_stay_small() -> None:
    crowded, long_modules = {}, {}
    for folder in {p.parent for p in ROOT.rglob("*.py")}:
        modules = [p for p in folder.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
        if len(modules) > MAX_MODULES_PER_FOLDER:
            crowded[str(folder.relative_to(ROOT.parent))] = len(modules)
    for path in ROOT.rglob("*.py"):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_MODULE_LINES:
            long_modules[str(path.relative_to(ROOT.parent))] = lines
    assert crowded == {}
    assert set(long_modules) == LONG_MODULES_BEING_REWRITTEN


def test_functions_stay_short() -> None:
    long_functions = set()
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            if function and (node.end_lineno or node.lineno) - node.lineno + 1 > MAX_FUNCTION_LINES:
                long_functions.add(f"{path.relative_to(ROOT.parent)}:{node.name}")
    assert long_functions == LONG_FUNCTIONS_BEING_REWRITTEN


def test_every_module_imports() -> None:
    for module in module_files():
        if not module.endswith("__main__"):
            importlib.import_module(module)
