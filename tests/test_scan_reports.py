"""Reports kept in the header cache by a scan: a re-scan with the same settings of repos still at the same
commit costs one revision request per repo and builds nothing; other settings, other code, a moved branch,
another token or a damaged entry never get a kept report."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubmem.fakehub.fixtures.layout import READER_TOKEN, write_tokens
from hubmem.fakehub.server import FakeHub
from hubmem.fetch.cache.store import HeaderCache
from hubmem.scan import reports as kept_reports
from hubmem.scan import runner
from hubmem.scan.input import Target
from hubmem.scan.runner import ScanSettings, scan_repos
from hubmem.scan.summary import ScanSummary
from hubmem.schema.kv import KVOptions
from hubmem.schema.options import Options

from support.scan_samples import Dims, write_llama

SHA1, SHA2 = "1" * 40, "2" * 40
REPOS = ["org/single", "org/sharded"]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_tokens(tmp_path)
    write_llama(tmp_path, "org/single", sha=SHA1)
    write_llama(tmp_path, "org/sharded", shards=3)
    write_llama(tmp_path, "org/gated", gated="manual")
    return tmp_path


async def scan(
    hub: FakeHub, cache: HeaderCache, repos: list[str], options: Options | None = None, token: Any = False
) -> tuple[ScanSummary, dict[str, dict[str, Any]]]:
    rows: dict[str, dict[str, Any]] = {}
    settings = ScanSettings(
        endpoint=hub.endpoint, token=token, options=options or Options(), check=False, workers=0
    )
    summary = await scan_repos(
        [Target(r, "main") for r in repos],
        settings,
        write_row=lambda line, row: rows.__setitem__(row.repo_id, json.loads(line)),
        cache=cache,
    )
    return summary, rows


def without_fetch(row: dict[str, Any]) -> dict[str, Any]:
    """The row less what differs between runs (timings, requests, the fetch figures)."""
    report = {k: v for k, v in row["report"].items() if k != "fetch"}
    return {**{k: v for k, v in row.items() if k not in ("seconds", "requests", "report")}, "report": report}


async def test_a_rescan_with_the_same_settings_builds_nothing(
    root: Path, tmp_path: Path, make_fake_hub: Callable[..., FakeHub], monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = make_fake_hub(root)
    cache = HeaderCache(tmp_path / "cache")
    first, cold = await scan(hub, cache, REPOS)
    hub.log.reset()
    writes = cache.stats.writes

    def no_build(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a kept report was built again")

    monkeypatch.setattr(runner, "build_report", no_build)
    again, warm = await scan(hub, cache, REPOS)
    assert first.ok == again.ok == 2 and first.reports_kept == 0 and again.reports_kept == 2
    assert [without_fetch(warm[r]) for r in REPOS] == [without_fetch(cold[r]) for r in REPOS]
    assert sorted(e.path for e in hub.log) == [f"/api/models/{r}/revision/main" for r in sorted(REPOS)]
    assert cache.stats.writes == writes  # nothing stored again
    for r in REPOS:  # this run's fetch figures, not the first run's
        assert warm[r]["requests"] == 1 and warm[r]["report"]["fetch"]["requests"] == 1
        assert cold[r]["report"]["fetch"]["requests"] > 1


async def test_other_settings_or_other_code_build_again(
    root: Path, tmp_path: Path, make_fake_hub: Callable[..., FakeHub], monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = make_fake_hub(root)
    cache = HeaderCache(tmp_path / "cache")
    _, short = await scan(hub, cache, REPOS)
    other, long = await scan(hub, cache, REPOS, Options(kv=KVOptions(context=65536)))
    assert other.ok == 2 and other.reports_kept == 0
    kv = [(short[r]["report"]["kv_cache"], long[r]["report"]["kv_cache"]) for r in REPOS]
    assert all(a != b for a, b in kv)
    again, _ = await scan(hub, cache, REPOS, Options(kv=KVOptions(context=65536)))
    assert again.reports_kept == 2  # each setting keeps its own reports
    monkeypatch.setattr(kept_reports, "code_digest", lambda: "another hubmem")
    changed, _ = await scan(hub, cache, REPOS)
    assert changed.ok == 2 and changed.reports_kept == 0


async def test_a_moved_branch_is_built_at_its_new_commit(
    root: Path, tmp_path: Path, make_fake_hub: Callable[..., FakeHub]
) -> None:
    hub = make_fake_hub(root)
    cache = HeaderCache(tmp_path / "cache")
    await scan(hub, cache, ["org/single"])
    write_llama(root, "org/single", sha=SHA2, dims=Dims(layers=4))
    hub.reload()
    hub.log.reset()
    moved, rows = await scan(hub, cache, ["org/single"])
    assert moved.ok == 1 and moved.reports_kept == 0
    # the kept report's revision request is counted in the row with the fetch's own
    assert rows["org/single"]["requests"] == rows["org/single"]["report"]["fetch"]["requests"] == len(hub.log)
    assert [e.path for e in hub.log].count("/api/models/org/single/revision/main") == 2
    assert rows["org/single"]["commit"] == SHA2
    assert rows["org/single"]["report"]["architecture"]["num_layers"] == 4
    again, _ = await scan(hub, cache, ["org/single"])
    assert again.reports_kept == 1


async def test_a_gated_report_is_not_served_to_a_caller_without_access(
    root: Path, tmp_path: Path, make_fake_hub: Callable[..., FakeHub]
) -> None:
    hub = make_fake_hub(root)
    cache = HeaderCache(tmp_path / "cache")
    reader, _ = await scan(hub, cache, ["org/gated"], token=READER_TOKEN)
    kept, _ = await scan(hub, cache, ["org/gated"], token=READER_TOKEN)
    assert reader.ok == 1 and kept.reports_kept == 1
    anonymous, rows = await scan(hub, cache, ["org/gated"], token=False)
    assert anonymous.ok == 0 and anonymous.reports_kept == 0
    assert rows["org/gated"]["error"]["kind"] == "gated"


@pytest.mark.parametrize(
    "value",
    [
        {"kind": "report", "json": "{}"},  # not a report
        {"kind": "report", "json": 7},
        {"kind": "file", "text": "{}"},  # another kind's entry under the key
        "REPO",  # a report of another repo
    ],
)
async def test_a_damaged_or_foreign_entry_is_a_miss(
    value: Any, root: Path, tmp_path: Path, make_fake_hub: Callable[..., FakeHub]
) -> None:
    hub = make_fake_hub(root)
    cache = HeaderCache(tmp_path / "cache")
    _, cold = await scan(hub, cache, ["org/single", "org/sharded"])
    kept = kept_reports.StoredReports(cache, hub.endpoint, Options(), False)
    stored = kept.find("org/single", "main", None)
    assert stored is not None
    if value == "REPO":
        other = json.loads(json.dumps(cold["org/sharded"]["report"]))
        value = {"kind": "report", "json": json.dumps({**other, "commit": stored.sha})}
    cache.put(stored.key, value)
    again, rows = await scan(hub, cache, ["org/single"])
    assert again.ok == 1 and again.reports_kept == 0
    assert without_fetch(rows["org/single"]) == without_fetch(cold["org/single"])
    third, _ = await scan(hub, cache, ["org/single"])
    assert third.reports_kept == 1  # the rebuilt report was kept in its place


def test_unreadable_sources_keep_nothing_for_later(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where hubmem's sources cannot be read, the digest matches no stored report (no stale report served)."""
    from pathlib import Path as P

    def unreadable(self: P) -> bytes:
        raise PermissionError(13, "denied", str(self))

    kept_reports.code_digest.cache_clear()
    monkeypatch.setattr(P, "read_bytes", unreadable)
    try:
        first = kept_reports.code_digest.__wrapped__()
        second = kept_reports.code_digest.__wrapped__()
        assert first.startswith("unreadable") and first != second
    finally:
        kept_reports.code_digest.cache_clear()
