"""Issue #10 item 2 (repo text is never console markup), item 10 (an endpoint's password is never echoed)
and the usability findings (usage errors are exit 2 with one line and a hint, a DNS failure fails fast),
through the real CLI in a subprocess against the fake Hub."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx2
import pytest

from hubmem.errors import NetworkError
from hubmem.fakehub.fixtures.layout import RepoWriter, write_tokens
from hubmem.fakehub.server import FakeHub
from hubmem.fetch.http.answers import redact
from hubmem.fetch.http.client import HubClient
from hubmem.fetch.hub import fetch_snapshot
from hubmem.render.safe import cells, line

from support.scan_samples import Dims, write_llama

pytestmark = pytest.mark.e2e

MARKUP = "[/x][red]spoofed[/red][bold]"


def run(
    *args: str, endpoint: str | None, tmp: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUBMEM_"))}
    base.update(HF_HOME=str(tmp / "hf-home"), HUBMEM_CACHE="off", COLUMNS="250", HF_HUB_DISABLE_XET="1")
    if endpoint is not None:
        base["HF_ENDPOINT"] = endpoint
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "hubmem", *args],
        capture_output=True,
        text=True,
        env=base,
        cwd=tmp,
        timeout=120,
    )


def one_error(proc: subprocess.CompletedProcess[str], kind: str, code: int) -> str:
    """The error is exactly one line and a hint, with its kind and exit code, and no traceback."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code, proc.stderr
    assert len(lines) == 2 and lines[0].startswith(f"hubmem: {kind}: ") and lines[1].startswith("hint: "), (
        lines
    )
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    return lines[0]


@pytest.fixture
def hub(tmp_path: Path, make_fake_hub: Callable[..., FakeHub]) -> FakeHub:
    root = tmp_path / "fixtures"
    write_tokens(root)
    write_llama(root, "org/ok")
    write_llama(root, "org/markup", config=Dims().config(model_type=MARKUP, architectures=[MARKUP]))
    bad = json.dumps({MARKUP: {"dtype": "X[/y]", "shape": [1], "data_offsets": [0, 1]}}).encode()
    RepoWriter(root, "org/bad-dtype").add_json("config.json", Dims().config()).add_header(
        "model.safetensors", bad, size=8 + len(bad) + 1
    ).write()
    return make_fake_hub(root)


def test_repo_text_is_printed_literally_in_errors(hub: FakeHub, tmp_path: Path) -> None:
    """A tensor name or dtype with ``[/x]`` made the error printer itself raise MarkupError."""
    proc = run("org/bad-dtype", endpoint=hub.endpoint, tmp=tmp_path)
    first = one_error(proc, "corrupt_header", 8)
    assert MARKUP in first and "X[/y]" in first


def test_repo_text_is_printed_literally_in_the_report(hub: FakeHub, tmp_path: Path) -> None:
    """``[red]`` in a config value was silently removed (output could be spoofed)."""
    proc = run("org/markup", "--gpu", "h100", endpoint=hub.endpoint, tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert MARKUP in proc.stdout


def test_the_gpu_catalog_hint_prints_its_tables_literally(hub: FakeHub, tmp_path: Path) -> None:
    """The hint printed ``[[gpus]]`` as ``[]``."""
    catalog = tmp_path / "gpus.toml"
    catalog.write_text("[[gpus]]\nname = 3\n")
    env = {"HUBMEM_GPUS": str(catalog)}
    proc = run("org/ok", "--gpu", "h100", endpoint=hub.endpoint, tmp=tmp_path, env=env)
    one_error(proc, "bad_config", 11)
    assert "[[gpus]]" in proc.stderr


def test_literal_text_helpers_escape_control_characters() -> None:
    assert line("a\x1b[31mb\nc").plain == "a\\x1b[31mb\\nc"
    assert [c.plain for c in cells("[/x]", 3)] == ["[/x]", "3"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--tp", "2", "--gpus", "3", "--train", "full"), "multiple of tensor_parallel"),
        (("--train", "lora", "-tp", "2", "--gpus", "3", "--gpu", "h100"), "multiple of tensor_parallel"),
        (("--train", "full", "--zero", "3", "--fsdp", "full_shard"), "ZeRO"),
        (("--zero", "3", "--fsdp", "full_shard"), "ZeRO"),
        (("--context", str(2**41)), "context: Input should be less than or equal to"),
    ],
)
def test_options_that_do_not_go_together_are_usage_errors(
    hub: FakeHub, tmp_path: Path, args: tuple[str, ...], needle: str
) -> None:
    proc = run("org/ok", *args, endpoint=hub.endpoint, tmp=tmp_path)
    assert needle in one_error(proc, "usage", 2)


def test_scan_usage_checks_are_usage_errors(tmp_path: Path) -> None:
    (tmp_path / "ids.txt").write_text("org/ok\n")
    proc = run("scan", "ids.txt", "--resume", endpoint=None, tmp=tmp_path)
    assert "--resume needs --output" in one_error(proc, "usage", 2)


def test_serve_on_a_busy_port_is_a_usage_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run("serve", "--port", str(port), endpoint=None, tmp=tmp_path)
    assert str(port) in one_error(proc, "usage", 2)


def test_an_endpoint_password_is_never_echoed(tmp_path: Path) -> None:
    for endpoint in ("htp://user:s3cret@host", "http://user:s3cret@no-such-host.invalid"):
        proc = run("org/x", endpoint=endpoint, tmp=tmp_path)
        one_error(proc, "network", 9)
        assert "s3cret" not in proc.stderr and "user:" not in proc.stderr
    assert redact("https://u:p@h.example/x?y=1") == "https://h.example/x?y=1"
    assert redact("https://h.example/a@b") == "https://h.example/a@b"


def test_a_dns_failure_fails_fast(tmp_path: Path) -> None:
    started = time.monotonic()
    proc = run("org/x", endpoint="http://no-such-host.invalid", tmp=tmp_path)
    assert "host name not found" in one_error(proc, "network", 9)
    assert time.monotonic() - started < 30  # it was 6 attempts with backoff (13 s) before; one now


async def test_a_dns_failure_is_not_retried() -> None:
    attempts = 0

    def unresolvable(request: httpx2.Request) -> httpx2.Response:
        nonlocal attempts
        attempts += 1
        try:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        except socket.gaierror as exc:
            raise httpx2.ConnectError(str(exc), request=request) from exc

    client = HubClient(endpoint="http://hub.test", token=False, transport=httpx2.MockTransport(unresolvable))
    async with client:
        with pytest.raises(NetworkError, match="host name not found"):
            await fetch_snapshot(client, "org/x", speculative=False)
    assert attempts == 1
