"""Fault injection, latency, the request log, the threaded runner, the CLI and the conftest fixtures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import HfApi
from huggingface_hub.utils import parse_ratelimit_headers
from safetensors.numpy import save

from hubmem.fakehub.__main__ import FAULT_ARGS, build_parser
from hubmem.fakehub.faults import FaultConfig, FaultInjector
from hubmem.fakehub.server import FakeHub
from hubmem.fakehub.thread import run_in_thread

from support.fakehub_samples import BIG, SHARDED, TINY, build, tiny_tensors


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("fixtures"))


@pytest.fixture(scope="module")
def module_hub(fixtures: Path) -> Iterator[FakeHub]:
    with run_in_thread(fixtures) as hub:
        yield hub


@pytest.fixture
def hub(module_hub: FakeHub) -> Iterator[FakeHub]:
    module_hub.reset()
    yield module_hub
    module_hub.reset()


def test_429_injection_per_bucket(hub: FakeHub) -> None:
    hub.set_faults(rate_limit_every=2, rate_limit_buckets=("api",), rate_limit_reset=7)
    with httpx2.Client() as c:
        statuses = [c.get(f"{hub.endpoint}/api/models/{TINY}").status_code for _ in range(4)]
        resolves = [c.head(hub.url(TINY, "config.json")).status_code for _ in range(3)]
        c.get(f"{hub.endpoint}/api/models/{TINY}")
        r = c.get(f"{hub.endpoint}/api/models/{TINY}")
    assert statuses == [200, 429, 200, 429]
    assert 429 not in resolves  # the resolvers bucket was not selected
    info = parse_ratelimit_headers(r.headers)
    assert r.status_code == 429 and info is not None
    assert (info.resource_type, info.remaining, info.reset_in_seconds, info.limit) == ("api", 0, 7, 500)
    assert r.headers["Retry-After"] == "7" and r.headers["X-Request-Id"]
    assert hub.log.count(fault="429") == 3


def test_huggingface_hub_reports_the_rate_limit(hub: FakeHub) -> None:
    hub.inject(429, match="/api/models/")
    with pytest.raises(Exception, match="reached your 'api' rate limit") as exc:
        HfApi(endpoint=hub.endpoint, token=False).model_info(TINY)
    assert exc.value.response.status_code == 429  # type: ignore[attr-defined]


def test_every_nth_5xx_cycles_statuses(hub: FakeHub) -> None:
    hub.set_faults(error_every=2, error_statuses=(500, 502, 503), origins=("hub",))
    with httpx2.Client() as c:
        got = [c.get(f"{hub.endpoint}/api/models/{TINY}").status_code for _ in range(6)]
    assert got == [200, 500, 200, 502, 200, 503]
    assert hub.log.count(fault="502") == 1


def test_probabilistic_faults_are_deterministic_with_a_seed(fixtures: Path) -> None:
    def run() -> list[str]:
        inj = FaultInjector(FaultConfig(seed=42, error_prob=0.3, drop_prob=0.1))
        return [inj.decide("hub", "api", "/api/models/x").kind for _ in range(200)]

    a, b = run(), run()
    assert a == b and 20 < a.count("error") < 90 and 5 < a.count("drop") < 40
    c = [
        FaultInjector(FaultConfig(seed=43, error_prob=0.3)).decide("hub", "api", "/").kind for _ in range(50)
    ]
    assert c != a[:50]


def test_dropped_connection(hub: FakeHub) -> None:
    hub.inject("drop", match="/resolve/")
    with httpx2.Client() as c, pytest.raises(httpx2.RemoteProtocolError):
        c.get(hub.url(TINY, "config.json"))
    with httpx2.Client() as c:
        assert c.get(hub.url(TINY, "config.json"), follow_redirects=True).status_code == 200  # one-shot
    first = hub.log.entries[0]
    assert (first.status, first.fault, first.bytes_sent) == (0, "drop", 0)


def test_cdn_faults_and_slow_bodies(hub: FakeHub) -> None:
    real = save(tiny_tensors(), metadata={"format": "pt"})
    hub.set_faults(slow_body_delay=0.02, slow_body_chunk=64, origins=("cdn",))
    with httpx2.Client(follow_redirects=True) as c:
        t0 = time.monotonic()
        r = c.get(hub.url(TINY, "model.safetensors"))
        slow = time.monotonic() - t0
        assert r.content == real
        chunks = -(-len(real) // 64)
        assert slow >= 0.02 * chunks * 0.9
        hub.clear_faults()
        hub.inject(503, origin="cdn")
        assert c.get(hub.url(TINY, "model.safetensors")).status_code == 503
    cdn = hub.log.filter(origin="cdn")
    assert [(e.status, e.fault) for e in cdn] == [(200, "slow"), (503, "503")]


def test_truncated_body_and_scripted_slow_body(hub: FakeHub) -> None:
    real = save(tiny_tensors(), metadata={"format": "pt"})
    hub.inject("truncate", origin="cdn")
    with httpx2.Client(follow_redirects=True) as c:
        with pytest.raises(httpx2.RemoteProtocolError):  # fewer bytes than Content-Length
            c.get(hub.url(TINY, "model.safetensors"))
        hub.inject("slow", origin="cdn")  # default 50 ms between 16 KiB chunks: one chunk here
        t0 = time.monotonic()
        assert c.get(hub.url(TINY, "model.safetensors")).content == real
        assert time.monotonic() - t0 >= 0.045
    truncated, slow = hub.log.filter(origin="cdn")
    assert (truncated.status, truncated.fault, truncated.bytes_sent) == (200, "truncate", len(real) // 2)
    assert (slow.fault, slow.bytes_sent) == ("slow", len(real))


def test_latency_on_both_origins(hub: FakeHub) -> None:
    hub.latency = 0.05
    with httpx2.Client(follow_redirects=True) as c:
        t0 = time.monotonic()
        c.get(hub.url(BIG, "model.safetensors"), headers={"Range": "bytes=0-7"})
        elapsed = time.monotonic() - t0
    assert elapsed >= 0.1  # hub 302 + CDN 206, 50 ms each
    assert all(e.duration >= 0.05 for e in hub.log)
    hub.set_faults(cdn_latency=0.0)
    assert hub.faults.latency_for("cdn") == 0.0 and hub.faults.latency_for("hub") == 0.05


def test_fault_match_restricts_faults(hub: FakeHub) -> None:
    hub.set_faults(error_every=1, match=r"/tree/")
    with httpx2.Client() as c:
        assert c.get(f"{hub.endpoint}/api/models/{SHARDED}").status_code == 200
        assert c.get(f"{hub.endpoint}/api/models/{SHARDED}/tree/main").status_code == 500


def test_enforced_quota(fixtures: Path) -> None:
    config = FaultConfig(enforce_quota=True, quota={"api": 3, "resolvers": 100})
    with run_in_thread(fixtures, faults=config) as hub, httpx2.Client() as c:
        got = [c.get(f"{hub.endpoint}/api/models/{TINY}") for _ in range(4)]
    assert [r.status_code for r in got] == [200, 200, 200, 429]
    remaining = [parse_ratelimit_headers(r.headers).remaining for r in got]  # type: ignore[union-attr]
    assert remaining == [2, 1, 1, 0]  # r>0 on ordinary responses, 0 on the 429


def test_cli_options_map_to_fault_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBMEM_FAKEHUB_DROP_EVERY", "9")
    args = build_parser().parse_args(
        ["--port", "0", "--latency", "0.05", "--fault-429-every", "5", "--fault-5xx-statuses", "502,503"]
    )
    config = FaultConfig.from_env(**{k: getattr(args, k) for k in FAULT_ARGS})
    assert (config.latency, config.rate_limit_every, config.error_statuses) == (0.05, 5, (502, 503))
    assert config.drop_every == 9  # from the environment


def test_threaded_runner_serves_and_stops(fixtures: Path) -> None:
    with run_in_thread(fixtures, regular_redirect="never") as hub:
        endpoint = hub.endpoint
        assert httpx2.get(hub.url(TINY, "config.json")).status_code == 200
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(endpoint + "/api/whoami-v2", timeout=2)


def test_conftest_factory_fixture(make_fake_hub: Callable[..., FakeHub], fixtures: Path) -> None:
    hub = make_fake_hub(fixtures, tree_page_size=1)
    with httpx2.Client() as c:
        r = c.get(f"{hub.endpoint}/api/models/{SHARDED}/tree/main")
    assert len(r.json()) == 1 and 'rel="next"' in r.headers["Link"]


async def test_fake_hub_fixture_from_async_code(fake_hub: FakeHub) -> None:
    """The default fixture serves the repository's fixtures/ (possibly still being built)."""
    async with httpx2.AsyncClient() as c:
        r = await c.get(f"{fake_hub.endpoint}/api/models/hubmem-test/not-a-fixture")
        await asyncio.sleep(0)
    assert r.status_code == 401 and r.headers["X-Error-Code"] == "RepoNotFound"
    assert fake_hub.log.count(origin="hub") == 1
