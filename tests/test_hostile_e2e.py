"""Issue #10, the symptoms that had unit tests only, reproduced end to end: a 5,000-digit layer index in a
tensor name and a 5,000-digit count in the index through the real CLI against the fake Hub (item 4); a scan
over every wrong-typed / non-finite config value of the issue, config.json written as the attacker wrote it
(``NaN`` bits included: the scan's real ``internal`` row), whose rows all read back for ``--resume`` (item
5); a tiny ``gpu_utilization`` through the service (item 9)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from test_hostile_config import LLAMA, WRONG

from hubmem.fakehub.fixtures.layout import RepoWriter, write_tokens
from hubmem.fakehub.server import FakeHub
from hubmem.scan.files import ScanFiles, run_scan
from hubmem.scan.input import Target
from hubmem.scan.runner import ScanSettings
from hubmem.service.app import create_app
from hubmem.service.backend import HubBackend
from hubmem.service.settings import Settings

from support.cli import run_cli
from support.scan_samples import Dims, jsonl, write_llama

pytestmark = pytest.mark.e2e

LONG = "9" * 5000


@pytest.fixture
def hub(tmp_path: Path, make_fake_hub: Callable[..., FakeHub]) -> FakeHub:
    root = tmp_path / "fixtures"
    write_tokens(root)
    name = f"model.layers.{LONG}.mlp.weight"
    header = json.dumps({name: {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]}}).encode()
    header += b" " * (-len(header) % 8)
    RepoWriter(root, "org/long-index").add_json("config.json", Dims().config()).add_header(
        "model.safetensors", header, size=8 + len(header) + 8
    ).write()
    write_llama(root, "org/long-count", shards=2, index_metadata={"total_size": LONG})
    write_llama(root, "org/ok")
    write_llama(root, "org/layers-1e18", config={**LLAMA, "num_hidden_layers": 1e18})
    write_llama(root, "org/mtp-1e18", config={**LLAMA, "num_nextn_predict_layers": 10**18})
    for i, (_, changes, _) in enumerate(WRONG):
        write_llama(root, f"wrong/c{i}", config={**LLAMA, **changes})
    return make_fake_hub(root)


@pytest.mark.parametrize("repo", ["org/long-index", "org/long-count"])
@pytest.mark.parametrize("command", [[], ["check"]])
def test_5000_digit_indexes_and_counts_through_the_cli(
    hub: FakeHub, tmp_path: Path, repo: str, command: list[str]
) -> None:
    proc = run_cli(hub, *command, repo, "--json", tmp=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr  # check: 1 when a cross-check disagrees
    assert "Traceback" not in proc.stderr and "internal" not in proc.stderr
    report = json.loads(proc.stdout)
    assert LONG not in proc.stdout + proc.stderr  # never printed whole
    assert report.get("weights", report).get("total_bytes", 8) >= 8


def test_check_and_scan_on_1e18_layers_return_through_the_cli(hub: FakeHub, tmp_path: Path) -> None:
    """Item 1 as reported: ``hubmem check`` / ``hubmem scan`` (check on by default) never returned."""
    proc = run_cli(hub, "check", "org/layers-1e18", "--json", tmp=tmp_path)
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
    (tmp_path / "repos.txt").write_text("org/layers-1e18\norg/mtp-1e18\n")
    out = tmp_path / "out.jsonl"
    proc = run_cli(hub, "scan", "repos.txt", "-o", str(out), "--mtp", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = jsonl(out)
    assert [r["ok"] for r in rows] == [True, True]


async def test_a_scan_of_every_wrong_config_value_has_no_internal_row(hub: FakeHub, tmp_path: Path) -> None:
    targets = [Target(f"wrong/c{i}", "main") for i in range(len(WRONG))]
    out = tmp_path / "out.jsonl"
    settings = ScanSettings(endpoint=hub.endpoint, token=False, check=True)
    summary = await asyncio.wait_for(run_scan(targets, settings, ScanFiles(out)), timeout=120)
    rows = jsonl(out)
    assert summary.ok == len(targets), [r.get("error") for r in rows if r.get("error")]
    again = await run_scan(targets, settings, ScanFiles(out, resume=True))
    assert again.skipped == len(targets)


async def test_a_tiny_gpu_utilization_through_the_service(hub: FakeHub) -> None:
    app = create_app(Settings(endpoint=hub.endpoint), backend=HubBackend(hub.endpoint, backoff_base=0.01))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with ClientSession() as session:
            url = server.make_url("/v1/models/org/ok?gpu=h100&gpu_utilization=1e-9")
            async with session.get(url) as answer:
                body = await answer.json()
    finally:
        await server.close()
    assert answer.status == 200, body
    assert body["fit"]["usable_bytes"] == 0 and body["fit"]["fits"] is False
