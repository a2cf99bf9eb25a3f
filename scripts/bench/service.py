"""Load and fault test of the hubmem service on loopback, against the fake Hub.

    .venv/bin/python -m scripts.bench.service                # all phases, ~1 minute
    .venv/bin/python -m scripts.bench.service --workers 64 --seconds 20 --soak 60

The service runs as its own process (``hubmem.service.run``), so its RSS is measured alone; the fake Hub
runs in a thread of this process; the client is a bounded set of aiohttp workers. Phases:

1. cached hits: N workers for T seconds on one cached report -> requests/s, p50/p90/p99 latency;
2. soak: distinct option sets for S seconds against a result LRU capped at C entries -> server RSS sampled
   every second, cache entries never above the cap (one snapshot, thousands of builds);
3. coalescing (fresh service): 100 concurrent identical uncached requests -> upstream requests, compared
   with the requests of one direct fetch (``analyze_async``) of the same repo: the same multiset;
4. faults (a fresh service each; fake Hub injection): persistent 429, one 429, persistent 500, every 3rd
   503, dropped connections, latency beyond the service's upstream timeout -> statuses of 20 concurrent
   requests, slowest request (nothing may hang), then a request after the fault is cleared.

Repo: ``--repo`` from the fixtures (default meta-llama/Llama-3.1-8B with the fixtures' reader token) when
its fixture is built; otherwise a tiny repo written here with the safetensors library.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from hubmem.fakehub.fixtures.layout import READER_TOKEN, RepoWriter, default_fixtures_dir
from hubmem.fakehub.fixtures.layout import write_tokens as write_fixture_tokens
from hubmem.fakehub.server import FakeHub
from hubmem.fakehub.thread import run_in_thread
from scripts import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tiny_fixtures(root: Path) -> str:
    import numpy as np
    from safetensors.numpy import save

    write_fixture_tokens(root)
    tensors = {f"model.layers.{i}.mlp.weight": np.zeros((256, 256), np.float16) for i in range(8)}
    config = {
        "model_type": "llama",
        "hidden_size": 256,
        "num_hidden_layers": 8,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "intermediate_size": 256,
        "vocab_size": 256,
        "torch_dtype": "float16",
    }
    w = RepoWriter(root, "tiny/load", sha="3" * 40)
    w.add_json("config.json", config).add_safetensors("model.safetensors", save(tensors))
    w.write()
    return "tiny/load"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


SERVER = """
import logging, sys
from hubmem.service.app import run
from hubmem.service.settings import Settings
logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
run(Settings(endpoint=sys.argv[1], cache_entries=int(sys.argv[3]), upstream_timeout=float(sys.argv[4])),
    host="127.0.0.1", port=int(sys.argv[2]))
"""


class Service:
    def __init__(self, endpoint: str, cache_entries: int, upstream_timeout: float) -> None:
        self.upstream_timeout = upstream_timeout
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        args = [endpoint, str(self.port), str(cache_entries), str(upstream_timeout)]
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, *args],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def wait_ready(self, session: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                async with session.get(self.base + "/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


async def fetch(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> tuple[int, float, str]:
    started = time.perf_counter()
    async with session.get(url, headers=headers) as r:
        await r.read()
        return r.status, time.perf_counter() - started, r.headers.get("X-Hubmem-Cache", "")


async def cached_hits(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], workers: int, seconds: float
) -> dict[str, Any]:
    await fetch(session, url, headers)  # warm
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < stop:
            status, elapsed, _ = await fetch(session, url, headers)
            statuses[status] += 1
            latencies.append(elapsed)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    wall = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "rps": len(latencies) / wall,
        "p50_ms": 1000 * pct(latencies, 0.50),
        "p90_ms": 1000 * pct(latencies, 0.90),
        "p99_ms": 1000 * pct(latencies, 0.99),
        "statuses": dict(statuses),
    }


def request_multiset(hub: FakeHub) -> Counter[tuple[str, str, str, str, str | None]]:
    return Counter(
        (e.origin, e.method, e.path, e.query if e.origin == "hub" else "", e.range) for e in hub.log.entries
    )


async def coalescing(
    session: aiohttp.ClientSession, svc: Service, hub: FakeHub, repo: str, token: str | None, n: int
) -> dict[str, Any]:
    from hubmem.pipeline import analyze_async

    hub.log.reset()
    await analyze_async(repo, token=token or False, endpoint=hub.endpoint)
    one = request_multiset(hub)
    hub.log.reset()
    hub.set_faults(latency=0.05)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"{svc.base}/v1/models/{repo}"  # a service that has not read this repo yet
    results = await asyncio.gather(*(fetch(session, url, headers) for _ in range(n)))
    hub.clear_faults()
    got = request_multiset(hub)
    return {
        "requests": n,
        "statuses": dict(Counter(s for s, _, _ in results)),
        "cache": dict(Counter(c for _, _, c in results)),
        "upstream_requests": sum(got.values()),
        "one_fetch_requests": sum(one.values()),
        "same_as_one_fetch": got == one,
        "slowest_ms": 1000 * max(e for _, e, _ in results),
    }


FAULTS: list[tuple[str, dict[str, Any]]] = [
    # first, so that the fake Hub's delayed handlers have finished before it stops
    ("latency 2x the upstream timeout", {"_latency_x": 2.0}),
    ("429 persistent (Retry-After 30 s)", {"rate_limit_every": 1, "rate_limit_reset": 30}),
    ("one 429 (Retry-After 1 s)", {"rate_limit_every": 0, "rate_limit_reset": 1, "_inject": (429, 1)}),
    ("500 persistent", {"error_every": 1, "error_statuses": (500,)}),
    ("every 3rd request 503", {"error_every": 3, "error_statuses": (503,)}),
    ("dropped connections", {"drop_every": 1}),
]


async def faults(
    session: aiohttp.ClientSession, make: Callable[[], Service], hub: FakeHub, repo: str, token: str | None
) -> list[dict[str, Any]]:
    """Each fault on a fresh service (nothing cached): 20 concurrent identical requests, then recovery."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    out = []
    for name, config in FAULTS:
        svc = make()
        try:
            await svc.wait_ready(session)
            hub.clear_faults()
            config = dict(config)
            if "_inject" in config:
                hub.inject(*config.pop("_inject"))
            if "_latency_x" in config:
                config["latency"] = config.pop("_latency_x") * svc.upstream_timeout
            hub.set_faults(**config)
            url = f"{svc.base}/v1/models/{repo}"
            started = time.perf_counter()
            results = await asyncio.gather(*(fetch(session, url, headers) for _ in range(20)))
            wall = time.perf_counter() - started
            hub.clear_faults()
            status, _, _ = await fetch(session, url, headers)
        finally:
            svc.stop()
        out.append(
            {
                "fault": name,
                "statuses": dict(Counter(s for s, _, _ in results)),
                "slowest_s": round(max(e for _, e, _ in results), 2),
                "wall_s": round(wall, 2),
                "after_recovery": status,
            }
        )
    return out


async def soak(
    session: aiohttp.ClientSession, svc: Service, repo: str, token: str | None, seconds: float, workers: int
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    samples: list[int] = [rss_kib(svc.proc.pid)]
    max_entries = 0
    counter = 0
    statuses: Counter[int] = Counter()
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal counter
        while time.perf_counter() < stop:
            counter += 1
            ctx = 1 + counter % 5000  # 5000 distinct option sets, far above the LRU cap
            status, _, _ = await fetch(session, f"{svc.base}/v1/models/{repo}?context={ctx}", headers)
            statuses[status] += 1

    async def sampler() -> None:
        nonlocal max_entries
        while time.perf_counter() < stop:
            await asyncio.sleep(1.0)
            samples.append(rss_kib(svc.proc.pid))
            async with session.get(svc.base + "/healthz") as r:
                max_entries = max(max_entries, (await r.json())["cache"]["entries"])

    await asyncio.gather(sampler(), *(worker() for _ in range(workers)))
    async with session.get(svc.base + "/healthz") as r:
        cache = (await r.json())["cache"]
    return {
        "requests": sum(statuses.values()),
        "statuses": dict(statuses),
        "rss_mib_start": round(samples[0] / 1024, 1),
        "rss_mib_peak": round(max(samples) / 1024, 1),
        "rss_mib_end": round(samples[-1] / 1024, 1),
        "rss_mib_last_quarter_spread": round(
            (max(samples[-max(2, len(samples) // 4) :]) - min(samples[-max(2, len(samples) // 4) :])) / 1024,
            1,
        ),
        "cache_max_entries_seen": max_entries,
        "cache": cache,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    fixtures = default_fixtures_dir()
    repo, token = args.repo, args.token
    tmp = None
    if not (fixtures / "repos" / repo.replace("/", "__") / "repo.json").is_file():
        tmp = tempfile.TemporaryDirectory()
        fixtures = Path(tmp.name)
        repo, token = tiny_fixtures(fixtures), None
    results: dict[str, Any] = {"repo": repo, "cpus": os.cpu_count()}
    with run_in_thread(fixtures) as hub:

        def make() -> Service:
            return Service(hub.endpoint, args.cache_entries, args.upstream_timeout)

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        conn = aiohttp.TCPConnector(limit=max(args.workers, 128))
        async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=120)) as s:
            svc = make()
            try:
                await svc.wait_ready(s)
                url = f"{svc.base}/v1/models/{repo}"
                results["cached_hits"] = await cached_hits(s, url, headers, args.workers, args.seconds)
                print(json.dumps({"cached_hits": results["cached_hits"]}), flush=True)
                results["soak"] = await soak(s, svc, repo, token, args.soak, args.workers)
                print(json.dumps({"soak": results["soak"]}), flush=True)
            finally:
                svc.stop()
            svc = make()
            try:
                await svc.wait_ready(s)
                results["coalescing"] = await coalescing(s, svc, hub, repo, token, 100)
                print(json.dumps({"coalescing": results["coalescing"]}), flush=True)
            finally:
                svc.stop()
            results["faults"] = await faults(s, make, hub, repo, token)
            for row in results["faults"]:
                print(json.dumps({"fault": row}), flush=True)
    if tmp is not None:
        tmp.cleanup()
    return results


def main() -> None:
    p = argparse.ArgumentParser(
        prog="python -m scripts.bench.service",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--repo", default="meta-llama/Llama-3.1-8B")
    p.add_argument("--token", default=READER_TOKEN, help="sent as Authorization: Bearer (fixture reader)")
    p.add_argument("--workers", type=int, default=32, help="concurrent client workers")
    p.add_argument("--seconds", type=float, default=10.0, help="cached-hit phase duration")
    p.add_argument("--soak", type=float, default=30.0, help="soak phase duration (seconds)")
    p.add_argument("--cache-entries", type=int, default=256, help="the service's LRU cap")
    p.add_argument("--upstream-timeout", type=float, default=5.0, help="the service's upstream timeout")
    p.add_argument("--json", dest="json_out", help="write all results to this file")
    args = p.parse_args()
    results = asyncio.run(main_async(args))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
