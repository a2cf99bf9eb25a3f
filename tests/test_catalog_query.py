"""``hubmem catalog query`` and ``export`` over a catalog scanned from the bundled fixtures (real Qwen repos,
with a fit verdict for one H100 at 32k) plus failures: --fits returns exactly the repos whose stored reports
say they fit; every plain filter equals the same filter applied in Python to the stored rows; --sql only
reads; the exports hold the stored rows."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hubmem.catalog.export import export_catalog
from hubmem.catalog.query import read_catalog, run_sql
from hubmem.catalog.store import Store
from hubmem.errors import CatalogError, ConfigError
from hubmem.fakehub.fixtures.layout import READER_TOKEN
from hubmem.fakehub.thread import HubThread
from hubmem.scan.incremental import scan_into_catalog
from hubmem.scan.input import Target
from hubmem.scan.listing import Listing, list_targets
from hubmem.scan.runner import ScanSettings
from hubmem.schema.catalog import CatalogQuery, CatalogRow
from hubmem.schema.kv import KVOptions
from hubmem.schema.options import Options
from hubmem.schema.scan import SUMMARY_COLUMNS

from support.paths import FIXTURES

pytestmark = pytest.mark.e2e
FAILING = ["hubmem-test/subfolder-weights", "hubmem-test/corrupt-header", "hubmem-test/no-such-repo"]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = str(tmp_path_factory.mktemp("catalog") / "catalog.sqlite")
    runner = HubThread(FIXTURES)
    hub = runner.start()
    try:
        options = Options(gpu="h100", kv=KVOptions(context=32768))
        settings = ScanSettings(options=options, endpoint=hub.endpoint, token=READER_TOKEN, concurrency=4)
        targets = list_targets(Listing(author="Qwen"), endpoint=hub.endpoint, token=READER_TOKEN)
        targets += [Target(r, "main") for r in FAILING]
        store = Store.open(db)
        try:
            asyncio.run(scan_into_catalog(targets, settings, store))
        finally:
            store.close()
        yield db
    finally:
        runner.stop()


def everything(db: str) -> list[CatalogRow]:
    return read_catalog(db, CatalogQuery(limit=1000)).rows


def stored_reports(db: str) -> dict[str, dict[str, Any]]:
    lines = run_sql(db, "SELECT row_json FROM catalog").rows
    return {row["repo_id"]: row for row in (json.loads(line) for (line,) in lines)}


def test_fits_returns_exactly_the_repos_whose_reports_say_they_fit(catalog: str) -> None:
    says_fit = {r for r, row in stored_reports(catalog).items() if row["ok"] and row["report"]["fit"]["fits"]}
    said_not = {
        r for r, row in stored_reports(catalog).items() if row["ok"] and not row["report"]["fit"]["fits"]
    }
    assert says_fit and said_not  # the catalog holds both answers
    env = dict(os.environ, NO_COLOR="1")
    for gpu in ("h100", "H100-SXM"):  # an alias and the catalog's own name
        cmd = ["catalog", "query", "--db", catalog, "--fits", gpu, "--context", "32768", "--json"]
        out = subprocess.run([sys.executable, "-m", "hubmem", *cmd], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert {r["repo_id"] for r in json.loads(out.stdout)["rows"]} == says_fit
    assert not read_catalog(catalog, CatalogQuery(fits="h100", context=8192)).rows  # not scanned at 8k
    with pytest.raises(ConfigError):
        read_catalog(catalog, CatalogQuery(fits="no-such-gpu"))


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        ({"max_params": "10e9"}, lambda r: r.parameters is not None and r.parameters <= 10**10),
        ({"min_params": "8B"}, lambda r: r.parameters is not None and r.parameters >= 8 * 10**9),
        ({"max_weight_bytes": "16GiB"}, lambda r: r.total_bytes is not None and r.total_bytes <= 16 * 2**30),
        ({"quantization": "fp8"}, lambda r: r.quantization == "fp8"),
        ({"quantization": "none"}, lambda r: r.ok and r.quantization is None),
        ({"format": "safetensors"}, lambda r: r.format == "safetensors"),
        ({"dtype": "bf16"}, lambda r: r.dtype == "BF16"),
        ({"status": "failed"}, lambda r: not r.ok),
        ({"author": "hubmem-test"}, lambda r: r.repo_id.startswith("hubmem-test/")),
        ({"search": "a3b"}, lambda r: "a3b" in r.repo_id.lower()),
        ({"min_context": 40000}, lambda r: r.fit_max_context is not None and r.fit_max_context >= 40000),
        ({"gpus": 1, "context": 32768}, lambda r: r.gpus == 1 and r.context == 32768),
    ],
)
def test_each_filter_is_the_same_filter_over_the_stored_rows(
    catalog: str, query: dict[str, Any], keep: Any
) -> None:
    got = read_catalog(catalog, CatalogQuery.model_validate({**query, "limit": 1000}))
    assert sorted(r.repo_id for r in got.rows) == sorted(r.repo_id for r in everything(catalog) if keep(r))
    assert got.total == len(got.rows)


def test_sort_and_pages(catalog: str) -> None:
    rows = everything(catalog)
    by_params = read_catalog(catalog, CatalogQuery(sort="parameters", order="desc", limit=1000)).rows
    numbers = [r.parameters for r in by_params]
    assert numbers == sorted((n for n in numbers if n is not None), reverse=True) + [None] * numbers.count(
        None
    )
    pages = [read_catalog(catalog, CatalogQuery(limit=4, offset=o)) for o in range(0, len(rows), 4)]
    assert [r.repo_id for p in pages for r in p.rows] == [r.repo_id for r in rows]
    assert {p.total for p in pages} == {len(rows)} == {len(FAILING) + 8}
    failures = {r.repo_id: r.error_kind for r in rows if not r.ok}
    assert failures == dict(zip(FAILING, ["no_safetensors", "corrupt_header", "not_found"], strict=True))


def test_sql_reads_and_cannot_write(catalog: str) -> None:
    result = run_sql(
        catalog, "SELECT dtype, count(*) AS n FROM catalog WHERE ok GROUP BY dtype ORDER BY dtype;"
    )
    assert result.columns == ["dtype", "n"] and sum(n for _, n in result.rows) == 8
    capped = run_sql(catalog, "SELECT repo_id FROM reports", max_rows=3)
    assert len(capped.rows) == 3 and capped.truncated
    for statement in (
        "DELETE FROM reports",
        "UPDATE reports SET ok = 0",
        "INSERT INTO options VALUES ('x', '{}')",
        "DROP TABLE heads",
        "ATTACH DATABASE ':memory:' AS other",
        "PRAGMA query_only = 0",
        "SELECT 1; DELETE FROM reports",
    ):
        with pytest.raises(CatalogError):
            run_sql(catalog, statement)
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    with pytest.raises(CatalogError, match="interrupted"):
        run_sql(catalog, endless, seconds=0.3)
    assert len(everything(catalog)) == len(FAILING) + 8  # nothing was changed


def test_exports_hold_the_stored_rows(catalog: str, tmp_path: Path) -> None:
    jsonl = io.BytesIO()
    n = export_catalog(catalog, "jsonl", jsonl)
    lines = jsonl.getvalue().decode().splitlines()
    assert n == len(lines) == len(FAILING) + 8
    assert {json.loads(line)["repo_id"]: json.loads(line) for line in lines} == stored_reports(catalog)
    table = io.BytesIO()
    export_catalog(catalog, "csv", table)
    parsed = list(csv.DictReader(io.StringIO(table.getvalue().decode())))
    assert list(parsed[0]) == list(SUMMARY_COLUMNS) and len(parsed) == n
    by_repo = {r.repo_id: r for r in everything(catalog)}
    for row in parsed:
        stored = by_repo[row["repo_id"]]
        assert row["total_bytes"] == ("" if stored.total_bytes is None else str(stored.total_bytes))
        assert row["fits"] == ("" if stored.fits is None else str(stored.fits))
    pq = pytest.importorskip("pyarrow.parquet")
    export_catalog(catalog, "parquet", tmp_path / "c.parquet")
    columns = pq.read_table(tmp_path / "c.parquet").to_pydict()
    assert list(columns) == list(SUMMARY_COLUMNS)
    assert columns["total_bytes"] == [
        None if r["total_bytes"] == "" else int(r["total_bytes"]) for r in parsed
    ]
