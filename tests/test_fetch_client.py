"""HubClient: retries, pauses, auth across origins, range reads of safetensors headers (mocked routes,
support.mockhttp)."""

from __future__ import annotations

import asyncio
import email.utils
import struct
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx2
import huggingface_hub
import numpy as np
import pytest
from huggingface_hub import constants as hf_constants

from hubmem.errors import CorruptHeaderError, NetworkError, OfflineError, RateLimitedError
from hubmem.fetch.http.client import HubClient
from hubmem.formats.safetensors import SafetensorsHeader, check_data_size

from support.minihub import (
    CDN,
    ENDPOINT,
    GOOD_TOKEN,
    FakeTime,
    MiniHub,
    expected_layout,
    header_length_of,
    st_bytes,
    tensors,
)
from support.mockhttp import Router, mock_http

URL = f"{ENDPOINT}/api/models/org/x/revision/main"


@pytest.fixture
def ft() -> FakeTime:
    return FakeTime()


@pytest.fixture
def router() -> Iterator[Router]:
    with mock_http() as r:
        yield r


def client(ft: FakeTime, **kw: object) -> HubClient:
    kw.setdefault("token", False)
    return HubClient(endpoint=ENDPOINT, sleep=ft.sleep, clock=ft.clock, **kw)  # type: ignore[arg-type]


# -- configuration ---------------------------------------------------------------------------------------


async def test_defaults_come_from_huggingface_hub(monkeypatch: pytest.MonkeyPatch, router: Router) -> None:
    monkeypatch.setattr(hf_constants, "ENDPOINT", "https://mirror.test")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_IMPLICIT_TOKEN", False)
    import hubmem.fetch.http.client as mod

    monkeypatch.setattr(mod, "get_token", lambda: "hf_from_get_token")
    route = router.get("https://mirror.test/api/x").respond(200, json={})
    async with HubClient() as hub:
        assert hub.endpoint == "https://mirror.test"
        await hub.get_json("https://mirror.test/api/x")
    sent = route.calls.last.request
    assert sent.headers["authorization"] == "Bearer hf_from_get_token"
    assert "hubmem/" in sent.headers["user-agent"]
    async with HubClient(token=False) as anon:
        await anon.get_json("https://mirror.test/api/x")
    assert "authorization" not in route.calls.last.request.headers


async def test_offline_mode_raises_without_connecting(
    monkeypatch: pytest.MonkeyPatch, router: Router, ft: FakeTime
) -> None:
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    route = router.get(URL).respond(200, json={})
    async with client(ft) as hub:
        with pytest.raises(OfflineError):
            await hub.get_json(URL)
    assert route.call_count == 0


async def test_injected_async_client_is_used_and_not_closed(router: Router, ft: FakeTime) -> None:
    route = router.get(URL).respond(200, json={"ok": 1})
    async with httpx2.AsyncClient(transport=router.transport) as raw:
        async with HubClient(endpoint=ENDPOINT, token=False, client=raw) as hub:
            data, _ = await hub.get_json(URL)
        assert data == {"ok": 1}
        assert not raw.is_closed
    assert route.call_count == 1


async def test_transport_injection() -> None:
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(str(request.url))
        return httpx2.Response(200, json={"via": "transport"})

    async with HubClient(endpoint=ENDPOINT, token=False, transport=httpx2.MockTransport(handler)) as hub:
        data, _ = await hub.get_json(URL)
    assert data == {"via": "transport"} and seen == [URL]


# -- retries ---------------------------------------------------------------------------------------------


async def test_429_with_retry_after_then_success(router: Router, ft: FakeTime) -> None:
    route = router.get(URL).mock(
        side_effect=[
            httpx2.Response(429, headers={"retry-after": "7"}),
            httpx2.Response(200, json={"sha": "x"}),
        ]
    )
    async with client(ft) as hub:
        data, _ = await hub.get_json(URL)
    assert data == {"sha": "x"}
    assert route.call_count == 2
    assert ft.sleeps == [7.0]  # exactly what the server asked for, no backoff on top


async def test_retry_after_as_http_date(router: Router, ft: FakeTime) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    router.get(URL).mock(
        side_effect=[httpx2.Response(503, headers={"retry-after": when}), httpx2.Response(200, json={})]
    )
    async with client(ft) as hub:
        await hub.get_json(URL)
    assert len(ft.sleeps) == 1 and 27 <= ft.sleeps[0] <= 31


async def test_ratelimit_header_pauses_every_request_of_the_client(router: Router) -> None:
    """A 429 with RateLimit r=0;t=5 pauses the whole client: a request started during the pause waits
    for it too. Time runs 1000x faster than real time (real sleeps, so concurrent waits overlap)."""
    t0 = time.monotonic()
    other = f"{ENDPOINT}/api/models/org/y/revision/main"
    sent_at: dict[str, list[float]] = {URL: [], other: []}
    started: list[asyncio.Task[object]] = []

    def clock() -> float:
        return (time.monotonic() - t0) * 1000

    async def sleep(seconds: float) -> None:
        if not started:  # the first wait is the pause set by the 429: start another request now
            started.append(asyncio.get_running_loop().create_task(hub.get_json(other)))
        await asyncio.sleep(seconds / 1000)

    def record(url: str, response: httpx2.Response) -> Callable[[httpx2.Request], httpx2.Response]:
        def effect(request: httpx2.Request) -> httpx2.Response:
            sent_at[url].append(clock())
            return response if len(sent_at[url]) == 1 else httpx2.Response(200, json={})

        return effect

    limited = httpx2.Response(
        429, headers={"ratelimit": '"api";r=0;t=5', "ratelimit-policy": '"fixed window";"api";q=500;w=300'}
    )
    router.get(URL).mock(side_effect=record(URL, limited))
    router.get(other).mock(side_effect=record(other, httpx2.Response(200, json={})))
    hub = HubClient(endpoint=ENDPOINT, token=False, sleep=sleep, clock=clock)
    async with hub:
        await hub.get_json(URL)
        await started[0]
    limited_at = sent_at[URL][0]
    assert len(sent_at[URL]) == 2 and sent_at[URL][1] - limited_at >= 6.0  # waited t + 1 s
    assert len(sent_at[other]) == 1 and sent_at[other][0] - limited_at >= 6.0  # so did the other one


async def test_ratelimit_header_with_remaining_quota_is_ignored(router: Router, ft: FakeTime) -> None:
    router.get(URL).respond(200, json={}, headers={"ratelimit": '"api";r=42;t=100'})
    async with client(ft) as hub:
        await hub.get_json(URL)
        await hub.get_json(URL)
    assert ft.sleeps == []


async def test_5xx_then_success_with_backoff(router: Router, ft: FakeTime) -> None:
    route = router.get(URL).mock(
        side_effect=[httpx2.Response(502), httpx2.Response(500), httpx2.Response(200, json={"ok": True})]
    )
    async with client(ft, backoff_base=1.0) as hub:
        data, _ = await hub.get_json(URL)
    assert data == {"ok": True} and route.call_count == 3
    assert len(ft.sleeps) == 2
    assert 0.5 <= ft.sleeps[0] <= 1.0 and 1.0 <= ft.sleeps[1] <= 2.0  # exponential with jitter


async def test_5xx_after_retries_is_a_network_error_with_the_hub_message(
    router: Router, ft: FakeTime
) -> None:
    route = router.get(URL).respond(503, json={"error": "Service\nUnavailable, try later"})
    async with client(ft, max_retries=3) as hub:
        with pytest.raises(NetworkError) as info:
            await hub.get_json(URL, repo_id="org/x")
    assert route.call_count == 4
    assert "Service Unavailable, try later" in str(info.value) and "\n" not in str(info.value)
    assert not isinstance(info.value, RateLimitedError)


async def test_429_after_retries_is_rate_limited_with_retry_after(router: Router, ft: FakeTime) -> None:
    router.get(URL).respond(429, headers={"retry-after": "2"}, json={"error": "slow down"})
    async with client(ft, max_retries=2) as hub:
        with pytest.raises(RateLimitedError) as info:
            await hub.get_json(URL, repo_id="org/x")
    assert info.value.retry_after == 2.0 and "slow down" in str(info.value)
    assert ft.sleeps == [2.0, 2.0]


async def test_wait_longer_than_max_wait_is_raised_at_once(router: Router, ft: FakeTime) -> None:
    route = router.get(URL).respond(429, headers={"ratelimit": '"api";r=0;t=299'})
    async with client(ft, max_wait=60) as hub:
        with pytest.raises(RateLimitedError) as info:
            await hub.get_json(URL)
    assert route.call_count == 1 and ft.sleeps == []
    assert info.value.retry_after == 300.0


@pytest.mark.parametrize(
    ("exc", "words"), [(httpx2.ReadTimeout, "timed out"), (httpx2.ConnectError, "connection failed")]
)
async def test_timeouts_and_connection_errors_after_retries(
    router: Router, ft: FakeTime, exc: type[Exception], words: str
) -> None:
    route = router.get(URL).mock(side_effect=exc)
    async with client(ft, max_retries=2) as hub:
        with pytest.raises(NetworkError) as info:
            await hub.get_json(URL, repo_id="org/x")
    assert route.call_count == 3 and len(ft.sleeps) == 2
    assert words in str(info.value) and "org/x" in str(info.value)


async def test_timeout_then_success(router: Router, ft: FakeTime) -> None:
    router.get(URL).mock(side_effect=[httpx2.ConnectTimeout("slow"), httpx2.Response(200, json={"ok": 1})])
    async with client(ft) as hub:
        data, _ = await hub.get_json(URL)
    assert data == {"ok": 1}


# -- auth across origins ---------------------------------------------------------------------------------


async def test_token_is_not_sent_to_the_cdn(router: Router, ft: FakeTime) -> None:
    hub = MiniHub()
    raw = st_bytes(tensors(2))
    hub.add("org/x", {"model.safetensors": raw})
    hub.install(router)
    async with client(ft, token=GOOD_TOKEN) as c:
        read = await c.read_header(
            f"{ENDPOINT}/org/x/resolve/main/model.safetensors", path="model.safetensors"
        )
    assert read.header_length == header_length_of(raw)
    (hub_call,) = hub.calls(host="hub.test")
    (cdn_call,) = hub.calls(host="cdn.test")
    assert hub_call.headers["authorization"] == f"Bearer {GOOD_TOKEN}"
    assert "authorization" not in cdn_call.headers
    assert cdn_call.headers["range"] == "bytes=0-99999"  # Range survives the redirect
    assert cdn_call.headers["accept-encoding"] == "identity"


async def test_token_dropped_on_scheme_change_and_kept_on_same_origin(router: Router, ft: FakeTime) -> None:
    router.get("http://hub.test/a").respond(307, headers={"location": "/b?x=1"})
    router.get("http://hub.test/b").respond(302, headers={"location": "https://hub.test/c"})
    router.get("https://hub.test/c").respond(200, json={})
    async with HubClient(endpoint="http://hub.test", token=GOOD_TOKEN, sleep=ft.sleep) as c:
        await c.get_json("http://hub.test/a")
    a, b, cc = (call.request for call in router.calls)
    assert a.headers["authorization"] == b.headers["authorization"] == f"Bearer {GOOD_TOKEN}"
    assert b.url.query == b"x=1"
    assert "authorization" not in cc.headers  # http -> https is another origin (httpx would keep it)


async def test_injected_client_default_authorization_never_leaves_the_hub(
    router: Router, ft: FakeTime
) -> None:
    router.get(f"{ENDPOINT}/f").respond(302, headers={"location": f"{CDN}/blob"})
    cdn = router.get(f"{CDN}/blob").respond(200, json={})
    async with (
        httpx2.AsyncClient(headers={"Authorization": "Bearer leaked"}, transport=router.transport) as raw,
        HubClient(endpoint=ENDPOINT, token=False, client=raw) as c,
    ):
        await c.get_json(f"{ENDPOINT}/f")
    assert "authorization" not in cdn.calls.last.request.headers


# -- header range reads ----------------------------------------------------------------------------------


def serve_file(router: Router, raw: bytes, *, ignore_range: bool = False) -> MiniHub:
    hub = MiniHub(ignore_range=ignore_range)
    hub.add("org/x", {"model.safetensors": raw})
    hub.install(router)
    return hub


FILE_URL = f"{ENDPOINT}/org/x/resolve/main/model.safetensors"


def check_tensors(raw: bytes, header: SafetensorsHeader | dict[str, Any], n: int) -> None:
    assert isinstance(header, SafetensorsHeader)
    check_data_size(header, len(raw) - 8 - n)
    assert {t.name: (t.shape, t.nbytes) for t in header.tensors} == expected_layout(raw)


async def test_header_of_99995_bytes_needs_exactly_one_second_read(router: Router, ft: FakeTime) -> None:
    raw = st_bytes(tensors(3), header_length=99_995)
    hub = serve_file(router, raw)
    async with client(ft) as c:
        read = await c.read_header(FILE_URL, path="model.safetensors")
    assert read.header_length == 99_995 and read.size == len(raw)
    check_tensors(raw, read.header, read.header_length)
    ranges = [s.headers["range"] for s in hub.calls(host="cdn.test")]
    assert ranges == ["bytes=0-99999", "bytes=100000-100002"]  # 8 + 99,995 = 100,003 bytes in all
    assert len(hub.calls(host="hub.test")) == 1  # the second read reuses the CDN URL


async def test_header_exactly_filling_the_first_read_needs_no_second_read(
    router: Router, ft: FakeTime
) -> None:
    raw = st_bytes(tensors(3), header_length=100_000 - 8)
    hub = serve_file(router, raw)
    async with client(ft) as c:
        read = await c.read_header(FILE_URL, path="model.safetensors")
    assert read.header_length == 99_992
    check_tensors(raw, read.header, read.header_length)
    assert [s.headers["range"] for s in hub.calls(host="cdn.test")] == ["bytes=0-99999"]


@pytest.mark.parametrize("n", [99_993, 99_994, 99_999, 100_000, 100_001, 150_000])
async def test_header_lengths_around_the_first_read_boundary(router: Router, ft: FakeTime, n: int) -> None:
    raw = st_bytes(tensors(4), header_length=n)
    hub = serve_file(router, raw)
    async with client(ft) as c:
        read = await c.read_header(FILE_URL, path="model.safetensors")
    assert read.header_length == n
    check_tensors(raw, read.header, n)
    assert [s.headers["range"] for s in hub.calls(host="cdn.test")] == [
        "bytes=0-99999",
        f"bytes=100000-{n + 7}",
    ]


async def test_file_smaller_than_the_first_read(router: Router, ft: FakeTime) -> None:
    raw = st_bytes({"w": np.ones((2, 2), dtype=np.float16)})
    serve_file(router, raw)
    async with client(ft) as c:
        read = await c.read_header(FILE_URL, path="model.safetensors", first_bytes=4096)
    assert read.size == len(raw)  # from X-Linked-Size on the 302
    check_tensors(raw, read.header, read.header_length)


async def test_range_ignored_stops_after_the_header(router: Router, ft: FakeTime) -> None:
    big = {"w": np.zeros((512, 1024), dtype=np.float32)}  # 2 MiB of data behind a small header
    raw = st_bytes(big)
    hub = serve_file(router, raw, ignore_range=True)
    hub.chunk = 1024
    async with client(ft) as c:
        read = await c.read_header(FILE_URL, path="model.safetensors")
    check_tensors(raw, read.header, read.header_length)
    total_chunks = -(-len(raw) // hub.chunk)
    needed = -(-(8 + read.header_length) // hub.chunk)
    assert hub.chunks_sent <= needed + 2 < total_chunks  # stopped right after 8 + N bytes
    assert read.size == len(raw)  # Content-Length of the 200
    assert len(hub.calls(host="cdn.test")) == 1


async def test_range_ignored_on_the_second_read_skips_what_it_has(router: Router, ft: FakeTime) -> None:
    raw = st_bytes(tensors(2), header_length=5000)
    hub = serve_file(router, raw)

    def fault(request: httpx2.Request) -> httpx2.Response | None:
        if request.url.host == "cdn.test" and request.headers.get("range") != "bytes=0-999":
            return httpx2.Response(200, content=raw)  # second read: Range ignored
        return None

    hub.fault = fault
    async with client(ft) as c:
        read = await c.read_header(FILE_URL, path="model.safetensors", first_bytes=1000)
    assert read.header_length == 5000
    check_tensors(raw, read.header, 5000)


async def test_header_over_25mb_is_refused_after_8_bytes(router: Router, ft: FakeTime) -> None:
    raw = struct.pack("<Q", 25_000_001) + b"{" + b" " * 200_000
    hub = serve_file(router, raw, ignore_range=True)
    hub.chunk = 8
    async with client(ft) as c:
        with pytest.raises(CorruptHeaderError) as info:
            await c.read_header(FILE_URL, path="model.safetensors")
    assert "25,000,001" in str(info.value)
    assert hub.chunks_sent == 1  # the first 8 bytes, nothing further
    assert len(hub.calls(host="cdn.test")) == 1


async def test_header_over_25mb_with_ranges_makes_no_second_read(router: Router, ft: FakeTime) -> None:
    raw = struct.pack("<Q", 30_000_000) + b"{}" + b" " * 10
    hub = serve_file(router, raw)
    async with client(ft) as c:
        with pytest.raises(CorruptHeaderError):
            await c.read_header(FILE_URL, path="model.safetensors")
    assert len(hub.calls(host="cdn.test")) == 1


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"\x05\x00", "shorter than 8 bytes"),
        (struct.pack("<Q", 10) + b"not json!!", "not valid UTF-8 JSON"),
        (struct.pack("<Q", 500) + b"{}", "file has 10"),
        (b"", "empty"),
    ],
)
async def test_corrupt_headers(router: Router, ft: FakeTime, raw: bytes, words: str) -> None:
    serve_file(router, raw)
    async with client(ft) as c:
        with pytest.raises(CorruptHeaderError) as info:
            await c.read_header(FILE_URL, path="model.safetensors")
    assert words in str(info.value)


async def test_stream_error_mid_body_is_retried(router: Router, ft: FakeTime) -> None:
    raw = st_bytes(tensors(2))
    calls = 0

    async def broken() -> AsyncIterator[bytes]:
        yield raw[:4]
        raise httpx2.ReadError("connection reset")

    def cdn(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return httpx2.Response(
                206, headers={"content-range": f"bytes 0-{len(raw) - 1}/{len(raw)}"}, content=broken()
            )
        return httpx2.Response(
            206, headers={"content-range": f"bytes 0-{len(raw) - 1}/{len(raw)}"}, content=raw
        )

    router.get(FILE_URL).respond(302, headers={"location": f"{CDN}/blob"})
    router.get(f"{CDN}/blob").mock(side_effect=cdn)
    async with client(ft) as c:
        read = await c.read_header(FILE_URL, path="model.safetensors")
    assert calls == 2 and read.header_length == header_length_of(raw)


async def test_stats_count_requests_bytes_and_sequential_hops(router: Router, ft: FakeTime) -> None:
    from hubmem.fetch.http.trace import Trace

    raw = st_bytes(tensors(2))
    serve_file(router, raw)
    trace = Trace()
    async with client(ft) as c:
        await c.read_header(FILE_URL, path="model.safetensors", trace=trace)
        assert c.stats.requests == 2
    assert trace.stats.requests == 2 and trace.depth == 2  # 302 + 206
    assert trace.stats.bytes_received >= len(raw)


async def test_shared_state_pauses_every_client_that_shares_it(router: Router, ft: FakeTime) -> None:
    from hubmem.fetch.http.retry import HubState

    state = HubState()
    first = client(ft, state=state)
    second = client(ft, state=state)
    alone = client(ft)
    router.get(URL).mock(
        side_effect=[httpx2.Response(429, headers={"retry-after": "9"}), httpx2.Response(200, json={})]
    )
    async with first, second, alone:
        await first.get_json(URL)  # sleeps 9 inside (the shared pause), then succeeds
        assert ft.sleeps == [9.0]
        first.pause(4)  # a pause from now on, seen by the other client with the same state only
        router.get(URL).respond(200, json={})
        await alone.get_json(URL)
        assert ft.sleeps == [9.0]
        await second.get_json(URL)
        assert ft.sleeps == [9.0, 4.0]
