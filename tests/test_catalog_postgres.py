"""The catalog on PostgreSQL (same schema, same queries): a scan killed half-way, then two scan processes at
once finish it; a re-scan makes only listing requests; two service processes answer GET /v1/catalog from the
same database and share the on-disk header cache. The server is a private one started for this file
(initdb + pg_ctl on a unix socket); skipped, with the reason, where PostgreSQL or psycopg is not installed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hubmem.catalog.query import read_catalog, run_sql
from hubmem.fakehub.server import FakeHub
from hubmem.schema.catalog import CatalogQuery

from support.postgres import missing, postgres_server
from support.scan_samples import Expected, write_many

pytestmark = pytest.mark.e2e
N_REPOS = 30


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    reason = missing()
    if reason is not None:
        pytest.skip(reason)
    try:
        with postgres_server() as url:
            yield url
    except RuntimeError as exc:  # installed but cannot run here (e.g. no shared memory in a sandbox)
        pytest.skip(str(exc))


def _env(hub: FakeHub, cache: str = "off") -> dict[str, str]:
    return dict(os.environ, HF_ENDPOINT=hub.endpoint, HUBMEM_CACHE=cache, HF_TOKEN="", NO_COLOR="1")


def _scan(url: str) -> list[str]:
    return [sys.executable, "-m", "hubmem", "scan", "--author", "pg", "--db", url, "--no-progress", "-j", "4"]


def _stored(url: str) -> int:
    try:
        return int(run_sql(url, "SELECT count(*) FROM reports").rows[0][0])
    except Exception:  # the tables are not there yet
        return 0


def _check(url: str, expected: dict[str, Expected]) -> None:
    rows = read_catalog(url, CatalogQuery(limit=1000)).rows
    assert sorted(r.repo_id for r in rows) == sorted(expected)
    for r in rows:
        exp = expected[r.repo_id]
        assert (r.ok, r.commit_sha, r.total_bytes, r.parameters) == (
            True,
            exp.sha,
            exp.total_bytes,
            exp.parameters,
        )
    assert run_sql(url, "SELECT count(*) FROM reports").rows == [(len(expected),)]


def test_scans_on_postgresql(pg_url: str, tmp_path: Path, make_fake_hub: Callable[..., FakeHub]) -> None:
    expected = write_many(tmp_path / "fixtures", N_REPOS, prefix="pg")
    hub = make_fake_hub(tmp_path / "fixtures", latency=0.003, list_page_size=10)
    env = _env(hub)
    first = subprocess.Popen(_scan(pg_url), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while _stored(pg_url) < 8 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert _stored(pg_url) < N_REPOS  # killed half-way
    two = [subprocess.Popen(_scan(pg_url), env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in two:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    _check(pg_url, expected)
    hub.log.reset()
    again = subprocess.run(_scan(pg_url), env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert {e.path for e in hub.log} <= {"/api/models", "/api/agent-harnesses"}
    assert hub.log.count(path="/api/models") == 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _wait_healthy(base: str, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if _get(base + "/healthz")[0] == 200:
                return True
        except OSError:
            time.sleep(0.1)
    return False


def _serve(url: str, hub: FakeHub, cache: Path, port: int) -> tuple[subprocess.Popen[bytes], str]:
    """``hubmem serve --reuse-port`` on ``port`` (several workers on one port)."""
    cmd = [sys.executable, "-m", "hubmem", "serve", "--port", str(port), "--endpoint", hub.endpoint]
    cmd += ["--catalog", url, "--cache-dir", str(cache), "--reuse-port"]
    proc = subprocess.Popen(cmd, env=_env(hub), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    if _wait_healthy(base):
        return proc, base
    proc.kill()
    raise AssertionError("the service did not start")


def test_two_service_processes_share_the_catalog_and_the_header_cache(
    pg_url: str, tmp_path: Path, make_fake_hub: Callable[..., FakeHub]
) -> None:
    expected = write_many(tmp_path / "fixtures", N_REPOS, prefix="pg")
    hub = make_fake_hub(tmp_path / "fixtures")
    if _stored(pg_url) < N_REPOS:  # this test may run first, or alone
        done = subprocess.run(_scan(pg_url), env=_env(hub), capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr
    services = [_serve(pg_url, hub, tmp_path / "headers", _free_port()) for _ in range(2)]
    try:
        query = "/v1/catalog?max_params=100000&sort=parameters&order=desc&limit=50"
        answers = [_get(base + query) for _, base in services]
        want = json.loads(
            read_catalog(
                pg_url, CatalogQuery(max_params=100000, sort="parameters", order="desc", limit=50)
            ).model_dump_json()
        )
        assert answers == [(200, want), (200, want)] and want["rows"]
        repo = sorted(expected)[4]
        hub.log.reset()
        status, report = _get(services[0][1] + f"/v1/models/{repo}")
        assert status == 200 and report["weights"]["total_bytes"] == expected[repo].total_bytes
        hub.log.reset()
        status, report = _get(services[1][1] + f"/v1/models/{repo}")  # the other process: headers from disk
        assert status == 200 and report["weights"]["total_bytes"] == expected[repo].total_bytes
        assert [e.path for e in hub.log] == [f"/api/models/{repo}/revision/main"]
        # a third worker on the first one's port: when the first stops, the port still answers
        services.append(_serve(pg_url, hub, tmp_path / "headers", int(services[0][1].rsplit(":", 1)[1])))
        services[0][0].terminate()
        services[0][0].wait(timeout=30)
        assert _wait_healthy(services[0][1]) and _get(services[0][1] + query) == (200, want)
    finally:
        for proc, _ in services:
            proc.terminate()
            proc.wait(timeout=30)
