"""Issue #10 for code added after it: the catalog's filters (``GET /v1/catalog`` query parameters, the
options of ``hubmem catalog query``) with hostile values. Integers past a database integer raised
``OverflowError`` from sqlite3 (a 500 / a traceback), an amount like ``1e400`` raised ``OverflowError`` from
``round(inf)`` inside validation, and a lone surrogate (a non-UTF-8 argument) ``UnicodeEncodeError``; all are
now invalid filters: 422 from the service, a usage error (exit 2) from the CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hubmem.catalog.query import read_catalog
from hubmem.catalog.store import Store
from hubmem.errors import HubmemError
from hubmem.schema.catalog import CatalogQuery
from hubmem.service.app import create_app
from hubmem.service.settings import Settings

from support.cli import run_cli

HOSTILE = [
    ("offset", str(10**30)),
    ("gpus", str(2**63)),
    ("context", "9" * 5000),
    ("min_context", str(10**40)),
    ("min_params", "1e30"),
    ("min_params", "1e400"),
    ("max_weight_bytes", "9" * 400 + "GB"),
    ("max_active_params", "1e308T"),
    ("search", "a\x00b"),
    ("limit", "1e3"),
]


@pytest.fixture
def catalog(tmp_path: Path) -> str:
    db = str(tmp_path / "catalog.db")
    Store.open(db).close()
    return db


@pytest.mark.parametrize(("name", "value"), HOSTILE)
def test_hostile_filters_are_invalid_not_a_crash(catalog: str, name: str, value: str) -> None:
    with pytest.raises(ValidationError):
        CatalogQuery.model_validate({name: value})


def test_a_lone_surrogate_is_an_invalid_filter() -> None:
    with pytest.raises(ValidationError, match="UTF-8"):
        CatalogQuery.model_validate({"author": "org\udcff"})


@pytest.fixture
async def service(catalog: str) -> AsyncIterator[tuple[TestServer, ClientSession]]:
    server = TestServer(create_app(Settings(catalog=catalog)), host="127.0.0.1")
    await server.start_server()
    session = ClientSession()
    yield server, session
    await session.close()
    await server.close()


@pytest.mark.e2e
async def test_the_service_answers_422_to_hostile_filters(service: tuple[TestServer, ClientSession]) -> None:
    server, session = service
    for name, value in [*HOSTILE, ("author", "%ED%A0%80")]:
        async with session.get(server.make_url("/v1/catalog"), params={name: value}) as answer:
            body = await answer.json()
            assert answer.status == 422 or (name == "author" and answer.status == 200), (name, body)
            if answer.status == 422:
                assert body["error"]["kind"] == "invalid_options"
    async with session.get(server.make_url("/v1/catalog?min_params=7B&offset=5")) as answer:
        assert answer.status == 200 and (await answer.json())["total"] == 0


@pytest.mark.e2e
@pytest.mark.parametrize(
    "args", [["--min-params", "1e400"], ["--offset", str(10**30)], ["--gpus", str(2**63)]]
)
def test_the_cli_calls_hostile_filters_usage_errors(catalog: str, tmp_path: Path, args: list[str]) -> None:
    proc = run_cli(None, "catalog", "query", "--db", catalog, *args, tmp=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr


FILTER = st.sampled_from(sorted(CatalogQuery.model_fields))
VALUE = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["1e400", "nan", "7B", "24GB", "", "asc", "desc", "ok", "gguf", "repo_id", "h100"]),
    st.text(max_size=12),
)


@settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture])  # read only
@given(query=st.dictionaries(FILTER, VALUE, max_size=4))
def test_any_filters_are_a_page_or_a_typed_refusal(catalog: str, query: dict[str, Any]) -> None:
    try:
        q = CatalogQuery.model_validate(query)
    except ValidationError:
        return
    try:
        page = read_catalog(catalog, q)
    except HubmemError:  # an unknown GPU in fits (bad_config), a failed query (catalog)
        return
    assert page.total == 0 and page.limit == q.limit
