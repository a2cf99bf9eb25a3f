"""Every error kind of the fetch stage, through fetch_snapshot against the in-memory Hub."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import httpx2
import pytest

from hubmem.errors import (
    CorruptHeaderError,
    DisabledRepoError,
    GatedRepoError,
    HubmemError,
    InvalidRepoIdError,
    NetworkError,
    NoSafetensorsError,
    OfflineError,
    RateLimitedError,
    RepoNotFoundError,
    RevisionNotFoundError,
    UnauthorizedError,
)
from hubmem.fetch.http.answers import error_from_response, hub_message
from hubmem.fetch.http.client import HubClient
from hubmem.fetch.hub import fetch_snapshot
from hubmem.snapshot import Snapshot

from support.minihub import (
    ENDPOINT,
    GOOD_TOKEN,
    OTHER_TOKEN,
    FakeTime,
    MiniHub,
    config_bytes,
    st_bytes,
    tensors,
)
from support.mockhttp import mock_http

SHA = "a" * 40


@pytest.fixture
def hub() -> Iterator[MiniHub]:
    h = MiniHub()
    with mock_http() as router:
        h.install(router)
        h.add("org/ok", {"config.json": config_bytes(), "model.safetensors": st_bytes(tensors(2))}, sha=SHA)
        h.add(
            "org/gated",
            {"config.json": config_bytes(), "model.safetensors": st_bytes(tensors(2))},
            gated=True,
        )
        h.add("org/private", {"model.safetensors": st_bytes(tensors(1))}, private=True)
        h.add("org/disabled", {"model.safetensors": st_bytes(tensors(1))}, disabled=True)
        yield h


@pytest.fixture
def ft() -> FakeTime:
    return FakeTime()


async def snap(ft: FakeTime, repo_id: str, token: str | bool = False, **kw: object) -> Snapshot:
    async with HubClient(endpoint=ENDPOINT, token=token, sleep=ft.sleep, clock=ft.clock, max_retries=2) as c:
        return await fetch_snapshot(c, repo_id, **kw)  # type: ignore[arg-type]


def one_line(err: BaseException) -> str:
    text = str(err)
    assert "\n" not in text and "Traceback" not in text
    return text


async def test_missing_repo_anonymous_401_is_not_found(hub: MiniHub, ft: FakeTime) -> None:
    with pytest.raises(RepoNotFoundError) as info:
        await snap(ft, "org/nope")
    assert info.value.status == 401 and info.value.kind == "not_found"
    assert "Invalid username or password." in one_line(info.value)


async def test_missing_repo_with_token_404_is_not_found(hub: MiniHub, ft: FakeTime) -> None:
    with pytest.raises(RepoNotFoundError) as info:
        await snap(ft, "org/nope", token=GOOD_TOKEN)
    assert info.value.status == 404 and "Repository not found" in one_line(info.value)


async def test_private_repo_without_the_right_token(hub: MiniHub, ft: FakeTime) -> None:
    with pytest.raises(RepoNotFoundError):
        await snap(ft, "org/private", token=OTHER_TOKEN)
    s = await snap(ft, "org/private", token=GOOD_TOKEN)
    assert len(s.files) == 1


async def test_gated_repo_anonymous_401(hub: MiniHub, ft: FakeTime) -> None:
    with pytest.raises(GatedRepoError) as info:
        await snap(ft, "org/gated")
    text = one_line(info.value)
    assert info.value.status == 401 and "restricted" in text and "Please log in" in text
    assert info.value.hint is not None and "token" in info.value.hint


async def test_gated_repo_with_a_token_without_access_403(hub: MiniHub, ft: FakeTime) -> None:
    with pytest.raises(GatedRepoError) as info:
        await snap(ft, "org/gated", token=OTHER_TOKEN)
    assert info.value.status == 403 and "not in the authorized list" in one_line(info.value)
    assert info.value.hint is not None and f"{ENDPOINT}/org/gated" in info.value.hint


async def test_gated_repo_with_access(hub: MiniHub, ft: FakeTime) -> None:
    s = await snap(ft, "org/gated", token=GOOD_TOKEN)
    assert s.config is not None and len(s.files) == 1


async def test_invalid_token(hub: MiniHub, ft: FakeTime) -> None:
    with pytest.raises(UnauthorizedError) as info:
        await snap(ft, "org/ok", token="hf_revoked")
    assert "Invalid credentials in Authorization header" in one_line(info.value)


async def test_disabled_repo(hub: MiniHub, ft: FakeTime) -> None:
    with pytest.raises(DisabledRepoError) as info:
        await snap(ft, "org/disabled")
    assert "disabled" in one_line(info.value) and info.value.hint and "disabled" in info.value.hint


async def test_revision_not_found(hub: MiniHub, ft: FakeTime) -> None:
    with pytest.raises(RevisionNotFoundError) as info:
        await snap(ft, "org/ok", revision="nope")
    assert "Invalid rev id: nope" in one_line(info.value)


async def test_entry_not_found_maps_to_not_found() -> None:
    err = error_from_response(
        status=404,
        reason="Not Found",
        headers={"x-error-code": "EntryNotFound", "x-error-message": "a.json does not exist on main"},
        body=b"",
        url=f"{ENDPOINT}/org/x/resolve/main/a.json",
        repo_id="org/x",
        path="a.json",
    )
    assert isinstance(err, RepoNotFoundError) and "a.json does not exist on main" in str(err)


async def test_weights_hubmem_does_not_read_are_listed_with_their_sizes(hub: MiniHub, ft: FakeTime) -> None:
    """config.json + pytorch_model.bin: a snapshot of the config alone, the .bin listed with its size."""
    hub.add("org/bin", {"config.json": config_bytes(), "pytorch_model.bin": b"x" * 1234})
    s = await snap(ft, "org/bin")
    assert (s.files, s.config is not None, s.unread, s.sizes) == (
        [],
        True,
        ["pytorch_model.bin"],
        {"pytorch_model.bin": 1234},
    )


async def test_no_weights_and_no_config_is_still_an_error(hub: MiniHub, ft: FakeTime) -> None:
    hub.add("org/bin", {"pytorch_model.bin": b"x", "README.md": b"hi"})
    with pytest.raises(NoSafetensorsError) as info:
        await snap(ft, "org/bin")
    assert ".bin" in one_line(info.value) and "no config.json" in one_line(info.value)


async def test_no_safetensors_at_root_hints_at_subfolders(hub: MiniHub, ft: FakeTime) -> None:
    hub.add("org/diff", {"unet/diffusion_pytorch_model.safetensors": st_bytes(tensors(1))})
    with pytest.raises(NoSafetensorsError) as info:
        await snap(ft, "org/diff")
    assert info.value.hint is not None and "unet" in info.value.hint


async def test_corrupt_header(hub: MiniHub, ft: FakeTime) -> None:
    hub.add("org/bad", {"model.safetensors": struct.pack("<Q", 12) + b"{not json!!}" + b"\0" * 16})
    with pytest.raises(CorruptHeaderError) as info:
        await snap(ft, "org/bad")
    assert "model.safetensors" in one_line(info.value)


async def test_header_longer_than_25mb_refused_after_8_bytes(hub: MiniHub, ft: FakeTime) -> None:
    hub.add("org/huge", {"model.safetensors": struct.pack("<Q", 25_000_001) + b"{" + b" " * 4000})
    hub.ignore_range = True
    hub.chunk = 8
    with pytest.raises(CorruptHeaderError) as info:
        await snap(ft, "org/huge", speculative=False)
    assert "exceeds" in one_line(info.value)
    assert hub.chunks_sent == 1
    assert len(hub.calls(host="cdn.test")) == 1


async def test_network_errors_after_retries(hub: MiniHub, ft: FakeTime) -> None:
    def fault(request: httpx2.Request) -> httpx2.Response | None:
        raise httpx2.ConnectError("connection refused")

    hub.fault = fault
    with pytest.raises(NetworkError) as info:
        await snap(ft, "org/ok")
    assert not isinstance(info.value, RateLimitedError)
    assert "connection failed after 3 attempts" in one_line(info.value)


async def test_timeouts_after_retries(hub: MiniHub, ft: FakeTime) -> None:
    def fault(request: httpx2.Request) -> httpx2.Response | None:
        raise httpx2.ReadTimeout("read timed out")

    hub.fault = fault
    with pytest.raises(NetworkError) as info:
        await snap(ft, "org/ok")
    assert "timed out" in one_line(info.value)


async def test_429_then_success_during_a_fetch(hub: MiniHub, ft: FakeTime) -> None:
    sent = 0

    def fault(request: httpx2.Request) -> httpx2.Response | None:
        nonlocal sent
        if "/revision/" in request.url.path:
            sent += 1
            if sent == 1:
                return httpx2.Response(429, headers={"retry-after": "3"}, json={"error": "rate limited"})
        return None

    hub.fault = fault
    s = await snap(ft, "org/ok")
    assert s.commit == SHA and sent == 2 and 3.0 in ft.sleeps
    # the retried revision info (429, 200) runs alongside the header read (302, 206): 2 deep, 6 requests
    assert s.stats.round_trips == 2 and s.stats.requests == 6


async def test_5xx_then_success_during_a_fetch(hub: MiniHub, ft: FakeTime) -> None:
    seen: set[str] = set()

    def fault(request: httpx2.Request) -> httpx2.Response | None:
        if request.url.host == "cdn.test" and "cdn" not in seen:
            seen.add("cdn")
            return httpx2.Response(502, text="Bad Gateway")
        return None

    hub.fault = fault
    s = await snap(ft, "org/ok")
    assert len(s.files) == 1 and len(ft.sleeps) == 1


async def test_rate_limited_after_retries(hub: MiniHub, ft: FakeTime) -> None:
    hub.fault = lambda request: httpx2.Response(
        429, headers={"ratelimit": '"api";r=0;t=4'}, json={"error": "You have exceeded the rate limit"}
    )
    with pytest.raises(RateLimitedError) as info:
        await snap(ft, "org/ok")
    assert info.value.retry_after == 5.0 and "exceeded the rate limit" in one_line(info.value)


async def test_invalid_repo_id_makes_no_request(hub: MiniHub, ft: FakeTime) -> None:
    for bad in ("a/b/c", "org/--x", "", "org/x.git"):
        with pytest.raises(InvalidRepoIdError):
            await snap(ft, bad)
    assert hub.seen == []


async def test_offline(hub: MiniHub, ft: FakeTime, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(OfflineError):
        await snap(ft, "org/ok")
    assert hub.seen == []


def test_every_error_is_a_hubmem_error() -> None:
    for cls in (DisabledRepoError, RepoNotFoundError, RateLimitedError):
        assert issubclass(cls, HubmemError)


def test_hub_message_sources() -> None:
    assert hub_message({"x-error-message": "A"}, b'{"error": "B"}') == "A; B"
    assert hub_message({}, b'{"error": ["x", "y"]}') == "x; y"
    assert hub_message({}, b'{"errors": [{"message": "m"}]}') == "m"
    assert hub_message({}, b"<html>nope</html>") == ""
    assert hub_message({}, b"plain\ntext") == "plain text"


def test_errors_are_also_huggingface_hubs_where_it_has_the_concept() -> None:
    """What the README promises: ``except`` clauses written for huggingface_hub keep catching hubmem's."""
    from huggingface_hub.errors import HFValidationError, NotASafetensorsRepoError, SafetensorsParsingError

    from hubmem.errors import CorruptHeaderError, InvalidRepoIdError, NoSafetensorsError

    assert issubclass(NoSafetensorsError, NotASafetensorsRepoError)
    assert issubclass(CorruptHeaderError, SafetensorsParsingError)
    assert issubclass(InvalidRepoIdError, HFValidationError) and issubclass(InvalidRepoIdError, ValueError)
