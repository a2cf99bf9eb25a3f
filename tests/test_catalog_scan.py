"""Scans into the catalog database against the fake Hub: a scan by author stores every repo; a second scan
with nothing changed makes only listing requests; a changed sha re-reads only that repo; SIGKILL at random
points and resuming loses and duplicates nothing; two scan processes at once. The fake Hub's request log and
the database itself are the evidence."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubmem.catalog.store import Store
from hubmem.fakehub.log import LogEntry
from hubmem.fakehub.server import FakeHub
from hubmem.scan.incremental import scan_into_catalog
from hubmem.scan.input import Target
from hubmem.scan.listing import Listing, listed_targets
from hubmem.scan.runner import ScanSettings

from support.scan_samples import Dims, Expected, write_llama, write_many

pytestmark = pytest.mark.e2e
LISTING = "/api/models"
NOT_A_REPO_REQUEST = "/api/agent-harnesses"  # huggingface_hub's once-a-day user-agent registry


def rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def repo_requests(hub: FakeHub) -> list[LogEntry]:
    return [e for e in hub.log if e.path != NOT_A_REPO_REQUEST]


def assert_stored_correctly(db: Path, expected: dict[str, Expected]) -> None:
    """One current ok row per repo, at the expected commit, with the expected exact figures."""
    found = rows(db, "SELECT repo_id, commit_sha, ok, total_bytes, parameters, row_json FROM catalog")
    assert sorted(r[0] for r in found) == sorted(expected)  # none lost, none twice
    for repo_id, commit, ok, total_bytes, parameters, line in found:
        exp = expected[repo_id]
        assert (ok, commit, total_bytes, parameters) == (1, exp.sha, exp.total_bytes, exp.parameters)
        report = json.loads(line)["report"]
        assert report["weights"]["total_bytes"] == exp.total_bytes and report["commit"] == exp.sha
    assert rows(db, "SELECT count(*) FROM reports")[0][0] == len(expected)
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]


async def _scan(hub: FakeHub, db: Path, author: str) -> Any:
    settings = ScanSettings(endpoint=hub.endpoint, token=False, concurrency=4)
    targets = await listed_targets(Listing(author=author), endpoint=hub.endpoint, token=False)
    store = Store.open(str(db))
    try:
        return await scan_into_catalog(targets, settings, store)
    finally:
        store.close()


async def test_incremental_scans_read_only_what_changed(
    tmp_path: Path, make_fake_hub: Callable[..., FakeHub]
) -> None:
    root = tmp_path / "fixtures"
    expected = write_many(root, 25, prefix="inc")
    hub = make_fake_hub(root, list_page_size=10)
    db = tmp_path / "catalog.sqlite"

    first = await _scan(hub, db, "inc")
    assert (first.ok, first.failed_total, first.skipped) == (25, 0, 0)
    assert_stored_correctly(db, expected)
    before = dict(((r, c), s) for r, c, s in rows(db, "SELECT repo_id, commit_sha, scanned_at FROM reports"))

    hub.log.reset()  # nothing changed: three listing pages (25 repos, 10 a page) and not one request more
    second = await _scan(hub, db, "inc")
    assert (second.ok, second.skipped) == (0, 25)
    assert [e.path for e in repo_requests(hub)] == [LISTING] * 3

    changed = "inc/m0007"  # a new commit of one repo, with one more layer
    expected[changed] = write_llama(root, changed, sha="7" * 40, dims=Dims(layers=3))
    hub.reload()
    hub.log.reset()
    third = await _scan(hub, db, "inc")
    assert (third.ok, third.skipped) == (1, 24)
    others = [e for e in repo_requests(hub) if e.path != LISTING]
    oid = hub.store.repos[changed].object_id
    assert others and all(changed in e.path or oid in e.path for e in others), [e.path for e in others]
    assert_stored_after_change(db, expected, changed, before)


def assert_stored_after_change(
    db: Path, expected: dict[str, Expected], changed: str, before: dict[tuple[str, str], str]
) -> None:
    current = {r: (c, p) for r, c, p in rows(db, "SELECT repo_id, commit_sha, parameters FROM catalog")}
    assert current[changed] == ("7" * 40, expected[changed].parameters)
    assert len(current) == len(expected)
    after = dict(((r, c), s) for r, c, s in rows(db, "SELECT repo_id, commit_sha, scanned_at FROM reports"))
    assert set(after) == set(before) | {(changed, "7" * 40)}  # the old commit's row is kept as history
    assert all(after[key] == stamp for key, stamp in before.items())  # no other row was written again


async def test_file_targets_skip_stored_commits(
    tmp_path: Path, make_fake_hub: Callable[..., FakeHub]
) -> None:
    root = tmp_path / "fixtures"
    expected = write_many(root, 4, prefix="ids")
    hub = make_fake_hub(root)
    db = tmp_path / "catalog.sqlite"
    names = sorted(expected)
    targets = [Target(r, "main") for r in names[:3]] + [Target(names[3], expected[names[3]].sha)]
    settings = ScanSettings(endpoint=hub.endpoint, token=False, concurrency=2)
    store = Store.open(str(db))
    try:
        assert (await scan_into_catalog(targets, settings, store)).ok == 4
        hub.log.reset()
        again = await scan_into_catalog(targets, settings, store)
    finally:
        store.close()
    assert (again.ok, again.skipped) == (0, 4)
    # a branch costs one revision request to see it has not moved; a commit sha costs nothing
    assert sorted(e.path for e in repo_requests(hub)) == [f"/api/models/{r}/revision/main" for r in names[:3]]
    assert_stored_correctly(db, expected)


def _cli_env(hub: FakeHub) -> dict[str, str]:
    env = dict(os.environ)
    env.update(HF_ENDPOINT=hub.endpoint, HUBMEM_CACHE="off", HF_TOKEN="", NO_COLOR="1")
    return env


def _scan_cmd(db: Path, author: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "hubmem",
        "scan",
        "--author",
        author,
        "--db",
        str(db),
        "--no-progress",
        *extra,
    ]


def _stored(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        return int(rows(db, "SELECT count(*) FROM reports")[0][0])
    except sqlite3.OperationalError:  # the tables are not created yet
        return 0


def _run_until(cmd: list[str], env: dict[str, str], db: Path, *, rows_at_least: int, after: float) -> int:
    """Start a scan, SIGKILL it once the catalog holds ``rows_at_least`` rows (or ``after`` seconds)."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.monotonic()
    while proc.poll() is None and time.monotonic() - started < 60:
        if _stored(db) >= rows_at_least or time.monotonic() - started >= after:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    return proc.wait()


def test_sigkill_at_random_points_then_resume_loses_and_duplicates_nothing(
    tmp_path: Path, make_fake_hub: Callable[..., FakeHub]
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    root = tmp_path / "fixtures"
    expected = write_many(root, 80, prefix="kill")
    hub = make_fake_hub(root, latency=0.004, seed=seed % 1000, list_page_size=30)
    hub.set_faults(error_every=41)  # 5xx now and then: retried
    db, env = tmp_path / "catalog.sqlite", _cli_env(hub)
    cmd = _scan_cmd(db, "kill", "-j", "4")
    kills = 0
    for point in sorted(rng.sample(range(1, 70), 4)):  # four kills at random row counts ...
        code = _run_until(cmd, env, db, rows_at_least=point, after=rng.uniform(0.5, 30.0))
        kills += code == -signal.SIGKILL
    code = _run_until(cmd, env, db, rows_at_least=10**6, after=rng.uniform(0.0, 0.4))  # ... one at start-up
    kills += code == -signal.SIGKILL
    assert kills >= 3, f"seed {seed}: the scans ended before they could be killed"
    stored_before = {r for (r,) in rows(db, "SELECT repo_id FROM reports")} if db.exists() else set()
    hub.log.reset()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, (seed, done.stderr)
    assert_stored_correctly(db, expected)
    # the last run read only the repos that no earlier run had stored
    read = {e.path.split("/")[4] for e in repo_requests(hub) if e.path.startswith("/api/models/kill/")}
    assert read == {r.split("/")[1] for r in set(expected) - stored_before}, seed


def test_two_scan_processes_at_once_store_each_repo_once(
    tmp_path: Path, make_fake_hub: Callable[..., FakeHub]
) -> None:
    root = tmp_path / "fixtures"
    expected = write_many(root, 40, prefix="two")
    hub = make_fake_hub(root, latency=0.002)
    db, env = tmp_path / "catalog.sqlite", _cli_env(hub)
    procs = [
        subprocess.Popen(_scan_cmd(db, "two", "-j", "4"), env=env, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    assert_stored_correctly(db, expected)
