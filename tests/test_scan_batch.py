"""hubmem scan against the fake Hub: 200+ repos under injected faults, SIGKILL + resume through the real
CLI, torn lines, compaction, CSV. Expected figures come from the arrays tests/scan_samples.py wrote."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubmem.fakehub.server import FakeHub
from hubmem.fetch.http.client import HubClient
from hubmem.formats.safetensors import parse_header
from hubmem.scan.files import ScanFiles, run_scan
from hubmem.scan.input import Target, parse_targets
from hubmem.scan.output import compact_output
from hubmem.scan.runner import ScanSettings, _Scan, auto_workers, scan_repos
from hubmem.schema.check import CHECK_NAMES
from hubmem.schema.scan import SUMMARY_COLUMNS, ScanRow
from hubmem.snapshot import Snapshot, WeightFile

from support.scan_samples import Expected, jsonl, write_many

pytestmark = pytest.mark.e2e
N_REPOS = 210


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Expected]]:
    root = tmp_path_factory.mktemp("scanfix")
    return root, write_many(root, N_REPOS)


def assert_row_correct(row: dict[str, Any], exp: Expected) -> None:
    """An ok row's figures against the arrays that were written."""
    r = row["report"]
    assert row["commit"] == exp.sha == r["commit"]
    assert r["weights"]["total_bytes"] == exp.total_bytes
    assert r["weights"]["parameters"] == exp.parameters
    assert {f["path"]: f["size"] for f in r["weights"]["files"]} == exp.file_sizes
    assert {f["path"]: f["header_length"] for f in r["weights"]["files"]} == exp.header_lengths
    assert r["check"]["ok"] is True, r["check"]


def test_parse_targets_comments_revisions_and_duplicates() -> None:
    text = """
    # a comment
    org/a
    org/b@v1.0   # trailing comment
    org/a
    org/b@refs/pr/3
    gpt2@
    org/a@main
    """
    got = parse_targets(text.splitlines(), default_revision="main")
    assert [(t.repo_id, t.revision) for t in got] == [
        ("org/a", "main"),
        ("org/b", "v1.0"),
        ("org/b", "refs/pr/3"),
        ("gpt2", "main"),
    ]
    assert got[1].line == 4


async def test_scan_with_faults_every_row_correct_or_typed_and_429_pauses_everything(
    many: tuple[Path, dict[str, Expected]], make_fake_hub: Callable[..., FakeHub]
) -> None:
    root, expected = many
    hub = make_fake_hub(root, latency=0.002, seed=7)
    hub.set_faults(error_every=23, drop_every=37)
    hub.inject(429, times=1, match="^/api/")  # Retry-After: 1 -> one global pause
    hub.inject("slow", times=10, origin="cdn")
    hub.inject("truncate", times=3, origin="cdn")
    names = sorted(expected)[:60]
    expected = {k: expected[k] for k in names}
    targets = [Target(r, "main") for r in names] + [
        Target("scan/does-not-exist", "main"),
        Target("bad id!", "main"),
    ]
    rows: list[tuple[bytes, ScanRow]] = []
    settings = ScanSettings(concurrency=6, backoff_base=0.02, max_retries=6)
    async with HubClient(endpoint=hub.endpoint, token=False, max_retries=6, backoff_base=0.02) as client:
        summary = await scan_repos(
            targets, settings, write_row=lambda line, row: rows.append((line, row)), client=client
        )
    parsed = [json.loads(line) for line, _ in rows]
    assert len(parsed) == len(targets)  # one row per target, none lost, none twice
    assert sorted(p["repo_id"] for p in parsed) == sorted(t.repo_id for t in targets)
    by_id = {p["repo_id"]: p for p in parsed}
    for repo_id, exp in expected.items():
        row = by_id[repo_id]
        if row["ok"]:
            assert_row_correct(row, exp)
        else:  # only transient kinds may fail a real repo, and they say so
            assert row["error"]["kind"] in ("network", "rate_limited"), row
    assert by_id["scan/does-not-exist"]["error"]["kind"] == "not_found"
    assert by_id["bad id!"]["error"]["kind"] == "invalid_repo_id"
    assert summary.ok + summary.failed_total == len(targets)
    assert summary.ok >= len(names) - 2  # retries absorb the injected faults
    faults = {e.fault for e in hub.log if e.fault}
    assert {"429", "drop", "slow", "truncate"} <= faults and faults & {"500", "502", "503"}
    # the 429's Retry-After paused the whole scan: no request reached the Hub during the pause
    t429 = next(e.time for e in hub.log if e.fault == "429")
    during = [e for e in hub.log if t429 + 0.15 < e.time < t429 + 0.85]
    assert during == [], [(e.time - t429, e.path) for e in during][:5]
    # the scan's request count is what the Hub saw, give or take attempts that never reached it
    # (a speculative read cancelled while connecting, a reused connection the server had dropped)
    assert len(hub.log) - 2 <= summary.requests <= len(hub.log) + 10


def _cli_env(hub: FakeHub, cache: str = "off") -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_ENDPOINT=hub.endpoint, HUBMEM_CACHE=cache, HF_HUB_DISABLE_XET="1", HF_TOKEN="", NO_COLOR="1"
    )
    return env


def _scan_cmd(list_file: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "hubmem", "scan", str(list_file), "-o", str(out), "--no-progress", *extra]


def test_sigkill_half_way_then_resume_loses_and_duplicates_nothing(
    many: tuple[Path, dict[str, Expected]], make_fake_hub: Callable[..., FakeHub], tmp_path: Path
) -> None:
    root, expected = many
    hub = make_fake_hub(root, latency=0.005, seed=3)
    hub.set_faults(error_every=29, drop_every=71)  # 500/502/503 and dropped connections throughout
    hub.inject(429, times=2, match="^/api/")  # Retry-After: 1 -> global pauses
    hub.inject("slow", times=10, origin="cdn")
    names = sorted(expected)
    list_file = tmp_path / "repos.txt"
    list_file.write_text("# 210 repos\n" + "\n".join(names) + "\nscan/missing-repo\n")
    out, out_csv = tmp_path / "out.jsonl", tmp_path / "out.csv"
    env = _cli_env(hub)
    proc = subprocess.Popen(
        _scan_cmd(list_file, out, "--csv", str(out_csv), "-j", "4", "--fsync", "none"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if out.exists() and out.read_bytes().count(b"\n") >= 60:
            break
        if proc.poll() is not None:
            pytest.fail(
                f"scan ended before it could be killed: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_rows = out.read_bytes().count(b"\n")
    assert 60 <= killed_rows < len(names)  # really half-way

    # an interrupted write can leave a torn last line: simulate the worst case on top of the kill
    with open(out, "ab") as fh:
        fh.write(b'{"repo_id":"scan/m0000","revision":"main","ok":true,"commit":"00')

    hub.log.reset()
    done = subprocess.run(
        _scan_cmd(list_file, out, "--csv", str(out_csv), "-j", "8", "--resume"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr  # scan/missing-repo failed (not_found), the rest is ok
    assert "resume:" in done.stderr and "1 torn" in done.stderr
    rows = jsonl(out)
    keys = [(r["repo_id"], r["revision"]) for r in rows]
    assert len(keys) == len(set(keys))  # no duplicated rows
    assert {r["repo_id"] for r in rows} == set(names) | {"scan/missing-repo"}  # no lost rows
    for r in rows:
        if r["repo_id"] == "scan/missing-repo":
            assert r["ok"] is False and r["error"]["kind"] == "not_found"
        else:
            assert r["ok"] is True, r
            assert_row_correct(r, expected[r["repo_id"]])
    # resumed repos were only re-resolved (one API request each), not fetched again
    resolved = hub.log.filter(path="/revision/main")
    headers = hub.log.filter(origin="cdn")
    assert len(headers) < 3 * (len(names) - killed_rows + 3) + 10
    assert len(resolved) >= len(names)  # every repo was at least resolved
    # the CSV has one row per JSONL row, same order of repos, with the cross-check columns
    with open(out_csv, newline="") as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == list(SUMMARY_COLUMNS)
    assert [(t["repo_id"], t["revision"]) for t in table] == keys
    for t in table:
        if t["ok"] == "True":
            assert int(t["total_bytes"]) == expected[t["repo_id"]].total_bytes
            assert all(t[name] in ("ok", "unavailable") for name in CHECK_NAMES)


async def test_resume_skips_same_commit_and_redoes_a_moved_branch(
    tmp_path: Path, make_fake_hub: Callable[..., FakeHub]
) -> None:
    from hubmem.fakehub.fixtures.layout import write_tokens

    from support.scan_samples import write_llama

    write_tokens(tmp_path)
    a = write_llama(tmp_path, "org/a", sha="a" * 40)
    write_llama(tmp_path, "org/b", sha="b" * 40)
    hub = make_fake_hub(tmp_path)
    out = tmp_path / "out.jsonl"
    targets = [Target("org/a", "main"), Target("org/b", "main"), Target("org/a", "a" * 40)]
    settings = ScanSettings(endpoint=hub.endpoint, token=False, concurrency=2)
    first = await run_scan(targets, settings, ScanFiles(out))
    assert first.ok == 3 and len(jsonl(out)) == 3
    # org/b's main moves to a new commit with an extra layer
    from support.scan_samples import Dims

    b2 = write_llama(tmp_path, "org/b", sha="c" * 40, dims=Dims(layers=3))
    hub.reload()
    hub.log.reset()
    second = await run_scan(targets, settings, ScanFiles(out, resume=True))
    assert second.skipped == 2 and second.ok == 1
    rows = jsonl(out)
    assert [(r["repo_id"], r["revision"]) for r in rows] == [
        ("org/a", "main"),
        ("org/a", "a" * 40),
        ("org/b", "main"),
    ]
    by = {(r["repo_id"], r["revision"]): r for r in rows}
    assert by["org/b", "main"]["commit"] == "c" * 40
    assert by["org/b", "main"]["report"]["weights"]["parameters"] == b2.parameters
    assert by["org/a", "main"]["report"]["weights"]["parameters"] == a.parameters
    # the sha target needed no request at all; org/a@main one revision request
    assert hub.log.count(path="/api/models/org/a/revision/") == 1


def test_compaction_drops_torn_failed_and_superseded_rows(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    lines = [
        {"repo_id": "x/a", "revision": "main", "ok": True, "commit": "1" * 40},
        {"repo_id": "x/b", "revision": "main", "ok": False, "error": {"kind": "network", "message": "m"}},
        {"repo_id": "x/a", "revision": "main", "ok": True, "commit": "2" * 40},
    ]
    out.write_bytes(
        b"".join(json.dumps(x).encode() + b"\n" for x in lines) + b"not json\n" + b'{"repo_id": "x/c"'
    )
    found = compact_output(out)
    assert found.done == {("x/a", "main"): "2" * 40}
    assert (found.dropped_failed, found.dropped_torn, found.dropped_bad, found.dropped_superseded) == (
        1,
        1,
        1,
        1,
    )
    assert jsonl(out) == [lines[2]]
    assert out.read_bytes().endswith(b"\n")


async def test_existing_output_needs_resume_or_overwrite(tmp_path: Path) -> None:
    from hubmem.errors import OutputExistsError

    out = tmp_path / "o.jsonl"
    out.write_text('{"repo_id":"x/a","revision":"main","ok":true,"commit":null}\n')
    with pytest.raises(OutputExistsError):
        await run_scan([], ScanSettings(endpoint="http://127.0.0.1:9"), ScanFiles(out))
    summary = await run_scan([], ScanSettings(endpoint="http://127.0.0.1:9"), ScanFiles(out, overwrite=True))
    assert summary.total == 0 and out.read_bytes() == b""


def test_scan_cli_stdin_to_stdout(
    many: tuple[Path, dict[str, Expected]], make_fake_hub: Callable[..., FakeHub]
) -> None:
    root, expected = many
    hub = make_fake_hub(root)
    ids = sorted(expected)[:3]
    p = subprocess.run(
        [sys.executable, "-m", "hubmem", "scan", "-", "--no-progress", "--no-check"],
        input="\n".join(ids) + "\n",
        env=_cli_env(hub),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert sorted(r["repo_id"] for r in rows) == ids
    for r in rows:
        assert r["report"]["check"] is None
        assert r["report"]["weights"]["total_bytes"] == expected[r["repo_id"]].total_bytes
    assert "3 repos: 3 ok" in p.stderr and "requests" in p.stderr


def test_scan_row_schema_roundtrip(
    many: tuple[Path, dict[str, Expected]], make_fake_hub: Callable[..., FakeHub], tmp_path: Path
) -> None:
    root, expected = many
    hub = make_fake_hub(root)
    out = tmp_path / "o.jsonl"
    targets = [Target(sorted(expected)[0], "main"), Target("scan/nope", "main")]
    asyncio.run(run_scan(targets, ScanSettings(endpoint=hub.endpoint, token=False), ScanFiles(out)))
    rows = [ScanRow.model_validate_json(line) for line in out.read_text().splitlines()]
    ok = next(r for r in rows if r.ok)
    bad = next(r for r in rows if not r.ok)
    assert ok.report is not None and ok.report.check is not None and ok.requests and ok.requests > 0
    assert bad.error is not None and bad.error.kind == "not_found" and bad.error.hint
    raw_bad = json.loads(out.read_text().splitlines()[[r.ok for r in rows].index(False)])
    assert set(raw_bad) >= {"repo_id", "revision", "ok", "error"} and set(raw_bad["error"]) >= {
        "kind",
        "message",
    }


async def test_reports_built_in_worker_processes_equal_in_process_ones(
    many: tuple[Path, dict[str, Expected]], make_fake_hub: Callable[..., FakeHub]
) -> None:
    root, expected = many
    hub = make_fake_hub(root)
    targets = [Target(r, "main") for r in sorted(expected)[:4]]
    got: dict[int | None, dict[str, Any]] = {}
    for workers in (0, 2, None):  # None: auto, every snapshot over the (lowered) tensor threshold
        rows: dict[str, Any] = {}
        settings = ScanSettings(
            endpoint=hub.endpoint, token=False, concurrency=4, workers=workers, process_tensors=1
        )

        def keep(line: bytes, row: ScanRow, rows: dict[str, Any] = rows) -> None:
            rows[row.repo_id] = json.loads(line)

        summary = await scan_repos(targets, settings, write_row=keep)
        assert summary.ok == len(targets)
        got[workers] = rows
    for workers in (2, None):
        for repo_id, row in got[workers].items():
            assert_row_correct(row, expected[repo_id])
            for part in ("weights", "architecture", "kv_cache", "training", "check"):
                assert row["report"][part] == got[0][repo_id]["report"][part]


@pytest.mark.parametrize(
    ("workers", "process_tensors", "in_process"),
    [(0, 1, False), (None, 1, True), (None, 10**9, False), (2, 10**9, True)],
)
def test_where_reports_are_built(workers: int | None, process_tensors: int, in_process: bool) -> None:
    """Auto (None): a worker process for snapshots of ``process_tensors`` tensors or more, else a thread."""
    settings = ScanSettings(workers=workers, process_tensors=process_tensors)
    scan = _Scan(settings, HubClient(endpoint="https://hub.test"), lambda line, row: None, {}, None, None)
    snapshot = Snapshot(
        "org/x",
        "main",
        "1" * 40,
        "hub",
        files=[
            WeightFile(
                "m.safetensors",
                8,
                parse_header({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}),
            )
        ],
    )
    pool = scan._process_pool(snapshot)
    try:
        assert (pool is not None) == in_process
        assert pool is None or pool._max_workers == (workers or auto_workers())
    finally:
        if pool is not None:
            pool.shutdown()
