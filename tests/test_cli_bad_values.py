"""Bad option values are one line and a hint, like every other error, never click's usage block (issue #14,
the CLI). In-process through click's runner: nothing here reaches a Hub (values are refused first)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from hubmem.cli.app import main


def error_lines(*args: str) -> list[str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert "Usage:" not in result.output and "Traceback" not in result.output
    assert len(lines) == 2 and lines[1].startswith("hint: "), lines
    return lines


@pytest.mark.parametrize(
    ("args", "first", "hint"),
    [
        (
            ["--gpu-memory-utilization", "90"],
            "hubmem: bad_option: --gpu-memory-utilization 90",
            "a fraction, e.g. 0.9",
        ),
        (
            ["--gpu-memory-utilization", "lots"],
            "hubmem: bad_option: --gpu-memory-utilization",
            "a fraction, e.g. 0.9",
        ),
        (
            ["--context", "0"],
            "hubmem: bad_option: --context / --max-model-len: 0 is not in the range",
            "8192",
        ),
        (
            ["--kv-dtype", "fp7"],
            "hubmem: bad_option: --kv-dtype / --kv-cache-dtype: 'fp7' is not one",
            "fp8_e4m3",
        ),
        (
            ["--optim", "lion"],
            "hubmem: bad_option: --optimizer / --optim: 'lion' is not one",
            "paged_adamw_8bit",
        ),
        (["--batch", "many"], "hubmem: bad_option: --batch: 'many' is not a valid integer", "sequences"),
        (["--no-such-option"], "hubmem: usage: No such option '--no-such-option'", "--help"),
        (["--kv-cache-memory", "lots"], "hubmem: bad_option: --kv-cache-memory 'lots': not a size", "GiB"),
    ],
)
def test_bad_values_are_one_line_and_a_hint(args: list[str], first: str, hint: str) -> None:
    for command in (["some/repo"], ["demo", "some/repo"]):
        lines = error_lines(*command, *args)
        assert lines[0].startswith(first), lines
        assert hint in lines[1]


def test_scan_and_check_too() -> None:
    assert error_lines("scan", "--concurrency", "0")[0].startswith("hubmem: bad_option: -j / --concurrency")
    assert error_lines("check")[0].startswith("hubmem: usage: Missing argument 'REPO'")
