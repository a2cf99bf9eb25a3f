"""Start-up: ``hubmem --help`` and ``import hubmem`` import only what they need (the commands' modules, the
pipeline, the HTTP client and huggingface_hub are imported on first use), ``hubmem DIR --json`` imports
neither the text renderer nor the Hub's machinery and runs with the cyclic collector paused, and the help
lists every command with its own one-line help."""

from __future__ import annotations

import gc
import json
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from safetensors.numpy import save_file

import hubmem
from hubmem.cli.app import COMMANDS, main

from support.scan_samples import Dims, llama_tensors

HEAVY = ("hubmem.pipeline", "hubmem.fetch.http.client", "huggingface_hub", "httpx2", "rich", "pydantic")
# what a local safetensors report as JSON has no use for: rich (text output and messages), the header cache
# and its file lock, the Hub's client (hubmem's) and its event loop, the GGUF grammar. huggingface_hub's
# errors (and the httpx2 they import) stay: hubmem's errors derive from them (README, Python API)
NOT_FOR_LOCAL_JSON = (
    "rich",
    "hubmem.render.text",
    "hubmem.fetch.cache.store",
    "filelock",
    "hubmem.fetch.http.client",
    "asyncio",
    "hubmem.formats.gguf.grammar",
)


def _imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(out.split())


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_help_table_matches_each_command(name: str) -> None:
    command = main.get_command(click.Context(main), name)
    assert command is not None and command.name == name
    assert command.get_short_help_str(10_000) == COMMANDS[name][2]


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == sorted(COMMANDS)


def test_help_imports_nothing_heavy() -> None:
    modules = _imported_after("from hubmem.cli.app import main\nmain(['--help'], standalone_mode=False)")
    assert [m for m in HEAVY if m in modules] == []


def test_import_hubmem_is_lazy_and_the_public_names_resolve() -> None:
    modules = _imported_after("import hubmem")
    assert [m for m in HEAVY if m in modules] == []
    assert hubmem.analyze is hubmem.pipeline.analyze
    assert "analyze" in dir(hubmem)
    with pytest.raises(AttributeError):
        _ = hubmem.not_a_public_name


def test_a_local_json_report_imports_no_renderer_cache_or_hub_client(tmp_path: Path) -> None:
    save_file(llama_tensors(Dims()), str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(Dims().config()))
    probe = (
        "import sys\nfrom hubmem.cli.app import main\nmain(sys.argv[1:])\n"
        "sys.stderr.write('\\n'.join(sys.modules))"
    )
    cmd = [sys.executable, "-c", probe, str(tmp_path), "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout)["weights"]["total_bytes"] > 0
    modules = set(done.stderr.split())
    assert "hubmem.pipeline" in modules  # the probe saw the report's imports
    assert [m for m in NOT_FOR_LOCAL_JSON if m in modules] == []


def test_the_report_is_read_and_built_with_the_collector_paused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hubmem.pipeline import analyze_source

    save_file(llama_tensors(Dims()), str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(Dims().config()))
    seen: list[bool] = []

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(gc.isenabled())
        return analyze_source(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("hubmem.cli.report.analyze_source", spy)
    assert gc.isenabled()
    result = CliRunner().invoke(main, [str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    assert seen == [False] and gc.isenabled()


def test_a_commands_imports_are_frozen_out_of_the_collectors_reach() -> None:
    probe = (
        "import gc, click\nfrom hubmem.cli.app import main\n"
        "main.get_command(click.Context(main), 'report')\n"
        "print(gc.isenabled(), gc.get_count()[0] < gc.get_threshold()[0], gc.get_freeze_count() > 10_000)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True", "True"]  # on, no collection due, the imports' objects frozen


def test_schema_fields_are_annotated_with_objects_not_strings() -> None:
    """The schema modules do without ``from __future__ import annotations``: pydantic then reads each field's
    type as it is, instead of compiling a string per field when each model class is built (~5 ms of every
    start-up for ~700 fields)."""
    schema = Path(hubmem.__file__).parent / "schema"
    future = re.compile(r"^from __future__ import annotations$", re.MULTILINE)
    postponed = [p.name for p in schema.glob("*.py") if future.search(p.read_text())]
    assert postponed == []
