"""``hubmem org/name@rev``, Hub URLs (``https://huggingface.co/org/name``, ``hf.co/...``, ``/tree/<rev>``,
``/blob/<rev>/file.gguf``) and ``--endpoint`` on report and check (issue #14, the CLI).

Expected commits come from the fixtures' own repo.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hubmem.errors import BadOptionError, InvalidRepoIdError
from hubmem.fakehub.server import FakeHub
from hubmem.fetch.ids import Target, parse_target

from support.cli import run_cli
from support.paths import repo_meta

PR = "hubmem-test/pr-ref"


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("org/name", Target("org/name")),
        ("org/name@v1.0", Target("org/name", "v1.0")),
        ("org/name@refs/pr/1", Target("org/name", "refs/pr/1")),
        ("https://huggingface.co/org/name", Target("org/name")),
        ("https://huggingface.co/org/name/", Target("org/name")),
        ("hf.co/org/name/tree/dev", Target("org/name", "dev")),
        ("https://hf.co/org/name/tree/refs%2Fpr%2F1", Target("org/name", "refs/pr/1")),
        ("https://huggingface.co/org/name/tree/main/transformer", Target("org/name", "main", "transformer")),
        ("https://huggingface.co/org/n/blob/main/m-Q8_0.gguf", Target("org/n", "main", None, "m-Q8_0.gguf")),
        ("huggingface.co/org/n/resolve/v2/sub/f.gguf?download=true", Target("org/n", "v2", "sub", "f.gguf")),
        ("https://huggingface.co/gpt2", Target("gpt2")),
        ("https://huggingface.co/gpt2/tree/main", Target("gpt2", "main")),
    ],
)
def test_targets(text: str, target: Target) -> None:
    assert parse_target(text) == target


def test_dataset_urls_are_refused() -> None:
    with pytest.raises(InvalidRepoIdError, match="dataset"):
        parse_target("https://huggingface.co/datasets/org/name")


def report(hub: FakeHub | None, tmp: Path, *args: str) -> dict[str, Any]:
    proc = run_cli(hub, *args, "--json", tmp=tmp)
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


@pytest.mark.e2e
def test_at_revision_and_urls_read_that_revision(fake_hub: FakeHub, tmp_path: Path) -> None:
    refs = repo_meta(PR)["refs"]
    for arg in (
        f"{PR}@refs/pr/1",
        f"https://huggingface.co/{PR}/tree/refs%2Fpr%2F1",
        f"hf.co/{PR}/tree/refs%2Fpr%2F1",
    ):
        data = report(fake_hub, tmp_path, arg)
        assert (data["repo_id"], data["revision"], data["commit"]) == (PR, "refs/pr/1", refs["refs/pr/1"])
    data = report(fake_hub, tmp_path, f"https://huggingface.co/{PR}")
    assert data["commit"] == refs["main"]


@pytest.mark.e2e
def test_blob_url_of_a_gguf_reads_that_file(fake_hub: FakeHub, tmp_path: Path) -> None:
    url = "https://huggingface.co/hubmem-test/qwen3-8b-gguf/blob/main/Qwen3-8B-Q8_0.gguf"
    data = report(fake_hub, tmp_path, url)
    assert data["weights"]["gguf"]["chosen"].startswith("Qwen3-8B-Q8_0")


@pytest.mark.e2e
def test_endpoint_option_on_report_and_check(fake_hub: FakeHub, tmp_path: Path) -> None:
    data = report(None, tmp_path, "Qwen/Qwen3-0.6B", "--endpoint", fake_hub.endpoint)
    assert data["commit"] == repo_meta("Qwen/Qwen3-0.6B")["sha"]
    proc = run_cli(None, "check", "Qwen/Qwen3-0.6B", "--endpoint", fake_hub.endpoint, tmp=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.e2e
def test_revision_given_twice_differently_is_one_line(fake_hub: FakeHub, tmp_path: Path) -> None:
    proc = run_cli(fake_hub, f"{PR}@refs/pr/1", "--revision", "main-x", tmp=tmp_path)
    assert proc.returncode == BadOptionError.exit_code
    assert "--revision 'main-x' but the repo argument names 'refs/pr/1'" in proc.stderr
