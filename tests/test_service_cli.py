"""`hubmem serve` as a real process: starts, serves /healthz and a report, stops on SIGINT."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from hubmem.fakehub.server import FakeHub

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str) -> tuple[int, dict[str, object]]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, json.loads(r.read())


def test_serve_command(make_fake_hub: Callable[..., FakeHub], tmp_path: Path) -> None:
    from test_service_e2e import WEIGHT_BYTES, write_fixtures

    hub = make_fake_hub(write_fixtures(tmp_path / "fixtures"))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hubmem", "serve", "--port", str(port), "--endpoint", hub.endpoint],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                status, health = get_json(base + "/healthz")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert status == 200 and health["endpoint"] == hub.endpoint
        status, report = get_json(base + "/v1/models/tiny/public")
        assert status == 200
        weights = report["weights"]
        assert isinstance(weights, dict) and weights["total_bytes"] == WEIGHT_BYTES
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out.decode()
    assert b"GET /v1/models/tiny/public" in out  # the access log (which never includes headers)
