"""The HTTP path's shared parts (hubmem.fetch.http.pool) and connection reuse: no hidden request from the
header building, one SSL context per process, a bounded pool, CDN connections kept alive across range reads
(counted by the fake Hub per client connection)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import constants as hf_constants
from huggingface_hub.utils import _detect_agent, build_hf_headers

from hubmem.fakehub.fixtures.layout import RepoWriter, write_tokens
from hubmem.fakehub.server import FakeHub
from hubmem.fetch.http import pool
from hubmem.fetch.http.client import HubClient
from hubmem.fetch.hub import fetch_snapshot

from support.minihub import ENDPOINT, sharded_files, tensors
from support.mockhttp import mock_http

SHA = "3" * 40
CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4}


@pytest.fixture
def registry_lookups(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """huggingface_hub's agent-harness registry as if never fetched (no cache file, telemetry on): every
    lookup it would send goes to this list instead of the network."""
    calls: list[str] = []

    def fetch() -> None:
        calls.append(f"{hf_constants.ENDPOINT}/api/agent-harnesses")
        return None

    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_TELEMETRY", False)
    monkeypatch.setattr(_detect_agent, "_registry", None)
    monkeypatch.setattr(_detect_agent, "_read_cached_registry", lambda path, max_age: None)
    monkeypatch.setattr(_detect_agent, "_write_cached_registry", lambda path, registry: None)
    monkeypatch.setattr(_detect_agent, "_fetch_registry", fetch)
    yield calls


def test_build_hf_headers_would_look_up_the_agent_registry(registry_lookups: list[str]) -> None:
    """The premise of the next test: huggingface_hub's header builder sends GET /api/agent-harnesses."""
    build_hf_headers(token=False, library_name="hubmem", library_version="0")
    assert registry_lookups


async def test_no_hidden_request_when_a_client_is_built_and_used(registry_lookups: list[str]) -> None:
    with mock_http() as router:
        harnesses = router.get(f"{ENDPOINT}/api/agent-harnesses").respond(200, json=[])
        config = router.get(f"{ENDPOINT}/org/x/resolve/main/config.json").respond(200, json=CONFIG)
        other = router.route().respond(404)
        async with HubClient(endpoint=ENDPOINT, token=False) as hub:
            answer = await hub.get(f"{ENDPOINT}/org/x/resolve/main/config.json")
    assert answer is not None and answer.status == 200
    assert registry_lookups == [] and not harnesses.called and not other.called
    assert config.call_count == 1
    agent = config.calls[0].request.headers["user-agent"]
    assert agent.startswith("hubmem/") and "; hf_hub/" in agent and "; python/" in agent


def test_user_agent_extra_and_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hf_constants, "HF_HUB_USER_AGENT_ORIGIN", "ci")
    agent = pool.user_agent("scan/1")
    assert agent.endswith("; scan/1; origin/ci") and agent.count("hubmem/") == 1


def test_one_ssl_context_per_process_and_setting() -> None:
    a = pool.connection_pool(4, 5.0)
    b = pool.connection_pool(8, 5.0)
    assert pool.ssl_context() is pool.ssl_context()
    assert pool.ssl_context(trust_env=False) is not pool.ssl_context()
    assert pool.ssl_context(http2=True) is not pool.ssl_context(http2=False)
    for client in (a, b):
        transport = client._transport
        assert isinstance(transport, httpx2.AsyncHTTPTransport)
        assert transport._pool._ssl_context is pool.ssl_context(http2=client._transport._pool._http2)


def test_pool_is_bounded_whatever_the_concurrency() -> None:
    assert pool.pool_size(4) == 4
    assert pool.pool_size(0) == 1
    assert pool.pool_size(512) == pool.MAX_POOL
    transport = pool.connection_pool(512, 5.0)._transport
    assert isinstance(transport, httpx2.AsyncHTTPTransport)
    assert transport._pool._max_connections == pool.MAX_POOL
    shared = pool.connection_pool(64, 5.0, isolated=True)._transport  # the service's: as it asked
    assert isinstance(shared, httpx2.AsyncHTTPTransport) and shared._pool._max_connections == 64
    assert HubClient(endpoint=ENDPOINT, max_concurrency=128)._semaphore._value == pool.MAX_POOL


def test_pool_streams_check_readability_themselves() -> None:
    """anyio's answer to httpcore2's per-request "is this idle socket readable?" builds every socket attribute
    (a getpeername() included): the pool's backend wraps its streams to poll the socket directly."""
    for client in (pool.connection_pool(8, 5.0), pool.connection_pool(8, 5.0, isolated=True)):
        transport = client._transport
        assert isinstance(transport, httpx2.AsyncHTTPTransport)
        assert isinstance(transport._pool._network_backend, pool.Backend)
        assert pool.cheap_readability(transport)  # idempotent: still one wrapper
        assert not isinstance(transport._pool._network_backend._inner, pool.Backend)


async def test_server_closed_idle_connection_is_seen_and_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    """A keep-alive connection the server closed while idle is noticed by the poll (readable at end of
    stream) and replaced: the next request goes out on a new connection and succeeds."""
    connections: list[int] = []
    verdicts: list[bool] = []
    real_readable = pool.is_socket_readable

    def readable(sock: socket.socket | None) -> bool:
        verdicts.append(real_readable(sock))
        return verdicts[-1]

    monkeypatch.setattr(pool, "is_socket_readable", readable)

    async def answer_once_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok")
        await writer.drain()
        writer.close()  # closed while the client keeps it as idle

    server = await asyncio.start_server(answer_once_then_close, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, pool.connection_pool(4, 5.0) as client:
        for _ in range(2):
            response = await client.get(f"http://127.0.0.1:{port}/")
            assert response.status_code == 200 and response.content == b"ok"
            await asyncio.sleep(0.2)  # the server's FIN arrives
    assert len(connections) == 2 and True in verdicts


def _sharded_repo(tmp: Path, shards: int) -> None:
    write_tokens(tmp)
    files = sharded_files([tensors(3, f"model.layers.{i}") for i in range(shards)])
    w = RepoWriter(tmp, "e2e/many", sha=SHA)
    w.add_json("config.json", CONFIG)
    w.add_file("model.safetensors.index.json", files.pop("model.safetensors.index.json"))
    for path, raw in files.items():
        w.add_safetensors(path, raw)
    w.write()


@pytest.mark.e2e
@pytest.mark.parametrize("slots", [1, 3])
async def test_cdn_connections_are_reused_across_range_reads(
    tmp_path: Path, make_fake_hub: Callable[..., FakeHub], slots: int
) -> None:
    """A pinned sha reads every shard header by range (302 on the Hub, one 206 on the CDN each): with
    ``slots`` concurrent requests, no origin sees more connections than slots."""
    _sharded_repo(tmp_path, 12)
    hub = make_fake_hub(tmp_path)
    async with HubClient(endpoint=hub.endpoint, token=False, max_concurrency=slots) as client:
        snapshot = await fetch_snapshot(client, "e2e/many", revision=SHA)
    assert len(snapshot.files) == 12
    assert hub.log.count(origin="cdn", status=206) == 12
    assert all(e.peer for e in hub.log.entries)
    assert 1 <= hub.log.connections("cdn") <= slots
    assert 1 <= hub.log.connections("hub") <= slots
