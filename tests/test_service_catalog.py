"""The service over the catalog: GET /v1/catalog (the filters of ``hubmem catalog query``, bounded, JSON), the
catalog page in headless Chromium (filter, sort, open a report), and the on-disk header cache shared by two
service instances (the second one reads no header again)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from hubmem.catalog.query import read_catalog
from hubmem.catalog.store import Store
from hubmem.fakehub.server import FakeHub
from hubmem.scan.incremental import scan_into_catalog
from hubmem.scan.input import Target
from hubmem.scan.runner import ScanSettings
from hubmem.schema.catalog import CatalogQuery
from hubmem.schema.kv import KVOptions
from hubmem.schema.options import Options
from hubmem.service.app import create_app
from hubmem.service.settings import Settings

from support.scan_samples import Expected, write_many

pytestmark = pytest.mark.e2e


async def scanned(hub: FakeHub, db: Path, expected: dict[str, Expected]) -> None:
    options = Options(gpu="l4", kv=KVOptions(context=4096))
    settings = ScanSettings(options=options, endpoint=hub.endpoint, token=False, concurrency=4)
    store = Store.open(str(db))
    try:
        targets = [Target(r, "main") for r in sorted(expected)] + [Target("cat/missing", "main")]
        await scan_into_catalog(targets, settings, store)
    finally:
        store.close()


async def serve(settings: Settings) -> TestServer:
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    return server


@pytest.fixture
def fixtures(tmp_path: Path) -> tuple[Path, dict[str, Expected]]:
    root = tmp_path / "fixtures"
    return root, write_many(root, 9, prefix="cat")


Stack = tuple[FakeHub, Path, dict[str, Expected]]


@pytest.fixture
async def stack(
    fixtures: tuple[Path, dict[str, Expected]], make_fake_hub: Callable[..., FakeHub], tmp_path: Path
) -> Stack:
    """The fake Hub and a catalog of its repos (plus one that fails), scanned with an L4 verdict at 4k."""
    root, expected = fixtures
    hub = make_fake_hub(root)
    db = tmp_path / "catalog.sqlite"
    await scanned(hub, db, expected)
    return hub, db, expected


async def test_catalog_endpoint(stack: Stack) -> None:
    hub, db, expected = stack
    with_catalog = await serve(Settings(endpoint=hub.endpoint, catalog=str(db)))
    without = await serve(Settings(endpoint=hub.endpoint))
    try:
        async with ClientSession() as http:
            url = with_catalog.make_url("/v1/catalog")
            async with http.get(
                url, params={"max_params": "100000", "sort": "parameters", "order": "desc"}
            ) as r:
                assert r.status == 200, await r.text()
                page = await r.json()
            want = read_catalog(str(db), CatalogQuery(max_params=100000, sort="parameters", order="desc"))
            assert page == json.loads(want.model_dump_json()) and page["rows"]
            async with http.get(url, params={"fits": "l4", "context": "4096", "status": "ok"}) as r:
                assert {row["repo_id"] for row in (await r.json())["rows"]} == set(expected)
            async with http.get(url, params={"status": "failed"}) as r:
                assert [(x["repo_id"], x["error_kind"]) for x in (await r.json())["rows"]] == [
                    ("cat/missing", "not_found")
                ]
            for bad in ({"limit": "5000"}, {"sort": "row_json"}, {"nope": "1"}, {"max_params": "lots"}):
                async with http.get(url, params=bad) as r:
                    assert r.status == 422, bad
                    assert (await r.json())["error"]["kind"] == "invalid_options"
            async with http.get(without.make_url("/v1/catalog")) as r:
                assert r.status == 503 and (await r.json())["error"]["kind"] == "catalog"
            async with http.get(with_catalog.make_url("/openapi.json")) as r:
                params = (await r.json())["paths"]["/v1/catalog"]["get"]["parameters"]
            assert [p["name"] for p in params] == list(CatalogQuery.model_fields)
            async with http.get(with_catalog.make_url("/catalog")) as r:
                assert r.status == 200 and "default-src 'none'" in r.headers["Content-Security-Policy"]
                assert "<script src" not in await r.text()  # no external assets: works offline
    finally:
        await with_catalog.close()
        await without.close()


async def test_two_instances_share_the_on_disk_header_cache(
    fixtures: tuple[Path, dict[str, Expected]], make_fake_hub: Callable[..., FakeHub], tmp_path: Path
) -> None:
    root, expected = fixtures
    hub = make_fake_hub(root)
    repo = sorted(expected)[1]  # a sharded one
    settings = Settings(endpoint=hub.endpoint, header_cache=str(tmp_path / "headers"))
    for instance in range(2):  # a restart, or a second worker behind the same port
        server = await serve(settings)
        hub.log.reset()
        try:
            async with ClientSession() as http, http.get(server.make_url(f"/v1/models/{repo}")) as r:
                assert r.status == 200
                assert (await r.json())["weights"]["total_bytes"] == expected[repo].total_bytes
        finally:
            await server.close()
        if instance == 0:  # the first read config.json, the index and the headers ...
            assert hub.log.count(path="/resolve/") + hub.log.count(origin="cdn") > 0
    # ... the second only asked which commit main is at
    assert [e.path for e in hub.log] == [f"/api/models/{repo}/revision/main"]


async def test_catalog_page_filter_sort_and_open_a_report(stack: Stack, tmp_path: Path) -> None:
    from test_service_browser import CDP, chromium_page, shown_int

    hub, db, expected = stack
    server = await serve(Settings(endpoint=hub.endpoint, catalog=str(db)))

    async def shown_repos(cdp: CDP) -> list[str]:
        await cdp.wait_for("!!document.body && document.body.dataset.state === 'done'")
        repos: list[str] = await cdp.eval(
            "[...document.querySelectorAll('#rows tbody tr')].map(r => r.dataset.repo)"
        )
        return repos

    try:
        async with chromium_page(tmp_path) as cdp:
            await cdp.send("Page.navigate", url=str(server.make_url("/catalog")))
            assert await shown_repos(cdp) == sorted([*expected, "cat/missing"])
            # filter: a substring of the id and the status
            await cdp.fill("search", "m000")
            await cdp.eval("document.getElementById('status').value = 'ok'")
            await cdp.eval("document.body.dataset.state = ''; document.getElementById('go').click()")
            assert await shown_repos(cdp) == sorted(r for r in expected if "m000" in r)
            # sort: click "weights" (largest first), then again (smallest first)
            by_bytes = sorted(
                (r for r in expected if "m000" in r), key=lambda r: (-expected[r].total_bytes, r)
            )
            for direction in ("descending", "ascending"):
                await cdp.eval("document.body.dataset.state = ''")
                await cdp.eval("document.querySelector('th[data-sort=total_bytes]').click()")
                got = await shown_repos(cdp)
                assert [expected[r].total_bytes for r in got] == [
                    expected[r].total_bytes
                    for r in (by_bytes if direction == "descending" else by_bytes[::-1])
                ]
                assert (
                    await cdp.eval(
                        "document.querySelector('th[data-sort=total_bytes]').getAttribute('aria-sort')"
                    )
                    == direction
                )
            assert "sort=total_bytes" in await cdp.eval("location.search")
            # open a report: the repo's link leads to its report at the stored commit
            repo = got[0]
            # clicked after this evaluation returns: a navigation during it fails it ("target navigated")
            link = f"document.querySelector('tr[data-repo={json.dumps(repo)}] a.report')"
            await cdp.eval(f"setTimeout(() => {link}.click(), 0)")
            await cdp.wait_for(
                "location.pathname === '/' && !!document.body && document.body.dataset.state === 'done'",
                timeout=30,
            )
            assert shown_int(await cdp.eval("document.getElementById('weights-bytes').textContent")) == (
                expected[repo].total_bytes
            )
            search = await cdp.eval("location.search")
            assert f"revision={expected[repo].sha}" in search and "context=4096" in search
    finally:
        await server.close()
        await asyncio.sleep(0)
