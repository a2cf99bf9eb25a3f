"""Issue #10 item 8 and the service's per-request budget: request bodies go through the bounded JSON reader
(nested -> 400), partial requests are cut off (header and body timeouts), duplicate ``Authorization``
headers are refused, and a report over the budget is refused before it takes a build slot. The real
aiohttp server on a socket, the real pipeline, the fake Hub."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, ClientTimeout
from aiohttp.test_utils import TestServer

from hubmem.fakehub.fixtures.layout import write_tokens
from hubmem.fakehub.server import FakeHub
from hubmem.service.app import create_app, server_options
from hubmem.service.backend import HubBackend
from hubmem.service.settings import Settings

from support.scan_samples import Dims, write_llama

pytestmark = pytest.mark.e2e

Factory = Callable[..., Any]


@pytest.fixture
async def make_server(
    tmp_path: Path, make_fake_hub: Callable[..., FakeHub]
) -> AsyncIterator[Callable[..., Any]]:
    root = tmp_path / "fixtures"
    write_tokens(root)
    write_llama(root, "org/small")
    write_llama(root, "org/bigger", dims=Dims(layers=12), shards=2)  # 111 tensors, about 10 KB of headers
    hub = make_fake_hub(root)
    servers: list[TestServer] = []

    async def start(**changes: Any) -> TestServer:
        settings = Settings(endpoint=hub.endpoint, header_timeout=1.0, body_timeout=1.0, **changes)
        app = create_app(settings, backend=HubBackend(hub.endpoint, backoff_base=0.01))
        server = TestServer(app, host="127.0.0.1")
        await server.start_server(**server_options(settings))
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


async def request(server: TestServer, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    async with (
        ClientSession(timeout=ClientTimeout(total=30)) as session,
        session.request(method, server.make_url(path), **kw) as r,
    ):
        body = await r.read()
        return r.status, json.loads(body) if r.content_type == "application/json" else body


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 1000 + b"]" * 1000,  # was a RecursionError and a 500
        b'{"repo_ids": ' + b"[" * 100 + b"]" * 100 + b"}",
        b'["org/small", NaN]',
        b"[1e400]",
        b'["\\ud800"]',
        b"[" + b"9" * 5000 + b"]",
    ],
)
async def test_a_nested_or_invalid_scan_body_is_400(make_server: Factory, body: bytes) -> None:
    server = await make_server()
    status, data = await request(
        server, "POST", "/v1/scan", data=body, headers={"Content-Type": "application/json"}
    )
    assert status == 400, data
    assert data["error"]["kind"] == "invalid_request" and "Traceback" not in json.dumps(data)


async def test_a_scan_body_of_ids_still_works(make_server: Factory) -> None:
    server = await make_server()
    status, data = await request(server, "POST", "/v1/scan", json={"repo_ids": ["org/small"]})
    assert status == 200
    rows = [json.loads(line) for line in data.splitlines()]
    assert [r["ok"] for r in rows] == [True]


async def test_a_partial_request_line_and_headers_are_cut_off(make_server: Factory) -> None:
    server = await make_server()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never the blank line that ends the headers
    await writer.drain()
    started = asyncio.get_running_loop().time()
    assert await asyncio.wait_for(reader.read(), timeout=10) == b""  # the server closed the connection
    assert asyncio.get_running_loop().time() - started < 5
    writer.close()


async def test_a_partial_body_is_408(make_server: Factory) -> None:
    server = await make_server()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"POST /v1/scan HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        b'["org/sm'
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(4096), timeout=10)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b'"request_timeout"' in answer
    writer.close()


async def test_duplicate_authorization_headers_are_refused(make_server: Factory) -> None:
    server = await make_server()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"GET /v1/models/org/small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Authorization: Bearer hf_first\r\nAuthorization: Bearer hf_second\r\n\r\n"
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    assert answer.startswith(b"HTTP/1.1 400"), answer
    assert b"at most one Authorization" in answer and b"hf_first" not in answer
    writer.close()


@pytest.mark.parametrize("limits", [{"max_report_tensors": 60}, {"snapshot_bytes": 110_000}])
async def test_a_report_over_the_budget_is_refused_before_its_build(
    make_server: Factory, limits: dict[str, int]
) -> None:
    server = await make_server(**limits)
    status, data = await request(server, "GET", "/v1/models/org/bigger")
    assert status == 422 and data["error"]["kind"] == "too_large", data
    assert "budget" in data["error"]["message"]
    status, metrics = await request(server, "GET", "/metrics")
    assert b'hubmem_build_seconds_count{kind="report"}' not in metrics  # no build ran
    small, _ = await request(server, "GET", "/v1/models/org/small")  # 21 tensors, about 80 KB in memory
    assert small == 200
