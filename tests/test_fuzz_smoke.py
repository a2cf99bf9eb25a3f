"""The long fuzz run (``python -m scripts.fuzz``, scripts/FUZZING.md) kept working: a few hundred inputs of
every target, in-process, must end with no crash, hang or memory failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.fuzz.run import main


def test_a_short_fuzz_run_finds_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--header", "200", "--config", "10", "--gguf", "40", "--cache", "40", "--service", "200"]
    assert main([*args, "--seed", "7", "--out", str(tmp_path / "failures")]) == 0
    out = capsys.readouterr().out
    assert "490 inputs, 0 failures" in out
    assert not (tmp_path / "failures").exists()
