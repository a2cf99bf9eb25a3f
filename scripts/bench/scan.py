"""Batch-scan benchmark: ``hubmem scan`` vs hf-mem 0.5.6 vs huggingface_hub's ``get_safetensors_metadata``,
in one run, over 200+ repos served by the fake Hub with injected latency (and, in a second round, faults).

    .venv/bin/python -m scripts.bench.scan                       # 240 repos, 50 ms latency, concurrency 16
    .venv/bin/python -m scripts.bench.scan --repos 300 --latency 0.1 --concurrency 32 --json out.json

Repos: every real-model fixture repo (fixtures/repos/*/repo.json, the hubmem-test/* error cases left out),
served under several alias ids (``<org>-b<k>/<name>``) from a temporary fixtures folder whose files are
symlinks to the real ones, until there are ``--repos`` of them. Gated fixtures are read with the fixtures'
reader token, by every tool.

The fake Hub runs in a child process (its own interpreter, so its CPU time does not compete with the
client's GIL); the figures come from its request log: requests on both origins and the body bytes it sent,
and its CPU seconds (every thread of the child) beside the client's: per repo, and as a share of one CPU.

Tools, each over the same list, ``--concurrency`` repos at a time:

* ``hubmem``: :func:`hubmem.scan.scan_repos` (one shared HubClient: one connection pool, retries, global
  pause on Retry-After), plain reports (``--no-check``), the big snapshots' reports built in worker processes
  (the default); ``hubmem --workers 0``: every report built in this process; ``hubmem --check``: with the
  cross-check columns (the Hub's safetensors summary comes with the revision request, no extra request);
  ``hubmem warm cache``: the
  same scan again with the on-disk header cache filled by a first pass: only revision resolutions remain, and
  the reports the first pass kept are used (no build); ``hubmem warm cache, new settings``: the same, at
  another context length, so every report is built again from the cached headers.
* ``hf-mem``: ``hf_mem.run.arun(repo, hf_token=..., experimental=True)`` (weights + KV cache, the closest to
  hubmem's report), one asyncio task per repo under a semaphore. hf-mem 0.5.6 hard-codes
  ``https://huggingface.co`` and builds its ``httpx2.AsyncClient`` inside ``arun``; here the name ``httpx2``
  inside ``hf_mem.run`` only is replaced by a proxy module whose ``AsyncClient`` builds the same client over
  a transport that rewrites the ``https://huggingface.co`` origin to the fake Hub (scheme, host, port, Host
  header) and passes the CDN redirect targets through; redirects, Range and everything else stay httpx2's.
* ``huggingface_hub``: ``HfApi(endpoint=fake, token=...).get_safetensors_metadata(repo)`` in a thread pool of
  ``--concurrency`` threads (the library is synchronous), over its shared session.

Correctness: for every repo the tools' byte totals (hf-mem: its ``memory``; huggingface_hub: the sum of the
``data_offsets`` spans it returned) and element counts are compared with hubmem's.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import math
import multiprocessing
import os
import platform
import shutil
import sys
import tempfile
import time
import types
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from unittest import mock

os.environ.setdefault("HF_HUB_DISABLE_XET", "1")  # the fake Hub does not speak Xet (read at import)
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from hubmem.fakehub.fixtures.layout import READER_TOKEN, default_fixtures_dir

HF_ORIGIN = ("https", "huggingface.co", 443)


# -- fixtures under many ids ------------------------------------------------------------------------------


def _tensors(repo_dir: Path) -> int:
    """Tensors in a fixture repo's stored headers (headers/*.json[.gz])."""
    import gzip

    n = 0
    for h in (repo_dir / "headers").rglob("*.json*") if (repo_dir / "headers").is_dir() else []:
        raw = h.read_bytes()
        n += len(json.loads(gzip.decompress(raw) if h.name.endswith(".gz") else raw)) - 1
    return n


def build_alias_fixtures(src: Path, dst: Path, target: int, max_tensors: int | None = None) -> list[str]:
    """Copy ``tokens.json``; for each real repo of ``src`` (with at most ``max_tensors`` tensors) write
    ``ceil(target / n)`` alias repos whose files are symlinks to the originals and whose repo.json names
    the alias. Returns ``target`` ids."""
    shutil.copy(src / "tokens.json", dst / "tokens.json")
    real = _real_repos(src, max_tensors)
    if not real:
        raise SystemExit(
            f"no built fixture repos under {src / 'repos'} (run .venv/bin/python -m scripts.fixtures.build)"
        )
    copies = math.ceil(target / len(real))
    ids: list[str] = []
    for k in range(copies):
        for d, meta in real:
            org, _, name = str(meta["repo_id"]).partition("/")
            alias = f"{org}-b{k}/{name}" if name else f"b{k}/{org}"
            out = dst / "repos" / alias.replace("/", "__")
            _link_files(d, out)
            out.mkdir(parents=True, exist_ok=True)
            (out / "repo.json").write_text(json.dumps({**meta, "repo_id": alias}))
            ids.append(alias)
    order = sorted(ids, key=lambda r: (int(r.split("/")[0].rsplit("-b", 1)[-1]) if "-b" in r else 0, r))
    return order[:target]


def _real_repos(src: Path, max_tensors: int | None) -> list[tuple[Path, dict[str, Any]]]:
    """(folder, repo.json) of every built real-model repo of ``src`` with at most ``max_tensors`` tensors."""
    real = []
    for d in sorted((src / "repos").iterdir()):
        meta_file = d / "repo.json"
        if d.name.startswith("hubmem-test__") or not meta_file.is_file():
            continue
        if max_tensors is not None and _tensors(d) > max_tensors:
            continue
        real.append((d, json.loads(meta_file.read_text())))
    return real


def _link_files(repo_dir: Path, out: Path) -> None:
    """Symlinks under ``out`` to every file of ``repo_dir``'s files/ and headers/ (same relative paths)."""
    for sub in ("files", "headers"):
        for dirpath, _, filenames in os.walk(repo_dir / sub):  # nothing when the folder is absent
            for fn in filenames:
                rel = Path(dirpath, fn).relative_to(repo_dir)
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                os.symlink(Path(dirpath, fn).resolve(), out / rel)


# -- the fake Hub in a child process -----------------------------------------------------------------------


def _serve(conn: Connection, fixtures: str, latency: float) -> None:
    import logging

    from hubmem.fakehub.thread import HubThread

    logging.getLogger("aiohttp").setLevel(logging.CRITICAL)  # tracebacks of the injected dropped connections
    logging.getLogger("hubmem.fakehub").setLevel(logging.ERROR)

    runner = HubThread(fixtures, latency=latency, seed=1, regular_redirect="mix")
    hub = runner.start()
    conn.send((hub.endpoint, hub.cdn_url, len(hub.store.repos)))
    cpu_at_reset = time.process_time()  # CPU seconds of this process (every thread) since the last reset
    while True:
        cmd, arg = conn.recv()
        if cmd == "stop":
            runner.stop()
            conn.send(None)
            return
        if cmd == "reset":
            hub.log.reset()
            cpu_at_reset = time.process_time()
            hub.clear_faults()
            hub.latency = latency
            conn.send(None)
        elif cmd == "faults":
            hub.set_faults(**arg)
            conn.send(None)
        elif cmd == "stats":
            entries = hub.log.entries
            faults = Counter(e.fault for e in entries if e.fault)
            conn.send(
                {
                    "requests": len(entries),
                    "hub_requests": sum(1 for e in entries if e.origin == "hub"),
                    "cdn_requests": sum(1 for e in entries if e.origin == "cdn"),
                    "bytes": sum(e.bytes_sent for e in entries),
                    "hub_connections": len({e.peer for e in entries if e.origin == "hub"}),
                    "cdn_connections": len({e.peer for e in entries if e.origin == "cdn"}),
                    "faults": dict(faults),
                    "cpu_seconds": time.process_time() - cpu_at_reset,
                }
            )


class HubProcess:
    def __init__(self, fixtures: Path, latency: float) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, str(fixtures), latency), daemon=True)
        self.proc.start()
        self.endpoint, self.cdn_url, self.repos = self.conn.recv()

    def call(self, cmd: str, arg: Any = None) -> Any:
        self.conn.send((cmd, arg))
        return self.conn.recv()

    def stop(self) -> None:
        self.call("stop")
        self.proc.join(10)


# -- the tools -----------------------------------------------------------------------------------------------


@dataclass
class RepoResult:
    ok: bool
    bytes: int | None = None
    elements: int | None = None
    error: str | None = None


@dataclass
class Run:
    tool: str
    seconds: float
    results: dict[str, RepoResult]
    server: dict[str, Any] = field(default_factory=dict)
    cpu: float = 0.0  # CPU seconds of this (client) process

    @property
    def ok(self) -> int:
        return sum(1 for r in self.results.values() if r.ok)

    def errors(self) -> Counter[str]:
        return Counter((r.error or "?").split(":")[0] for r in self.results.values() if not r.ok)


def _err(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:120]}"


async def run_hubmem(
    ids: list[str],
    endpoint: str,
    concurrency: int,
    *,
    check: bool,
    cache_dir: Path | None,
    workers: int | None = None,
    context: int | None = None,
) -> dict[str, RepoResult]:
    from hubmem.fetch.cache.store import HeaderCache
    from hubmem.scan.input import Target
    from hubmem.scan.runner import ScanSettings, scan_repos
    from hubmem.schema.kv import KVOptions
    from hubmem.schema.options import Options
    from hubmem.schema.scan import ScanRow

    out: dict[str, RepoResult] = {}

    def write_row(line: bytes, row: ScanRow) -> None:
        if row.ok and row.report is not None:
            w = row.report.weights
            out[row.repo_id] = RepoResult(True, w.total_bytes, w.elements)
        else:
            out[row.repo_id] = RepoResult(False, error=row.error.kind if row.error else "?")

    options = Options() if context is None else Options(kv=KVOptions(context=context))
    settings = ScanSettings(
        endpoint=endpoint,
        token=READER_TOKEN,
        concurrency=concurrency,
        check=check,
        workers=workers,
        options=options,
    )
    cache = HeaderCache(cache_dir) if cache_dir is not None else None
    await scan_repos([Target(r, "main") for r in ids], settings, write_row=write_row, cache=cache)
    return out


async def run_hubmem_fetch(
    ids: list[str], endpoint: str, concurrency: int, *, route: bool = True
) -> dict[str, RepoResult]:
    """The fetch stage alone (config + every header at one commit, no report): one shared HubClient;
    ``route=False``: range reads of every shard header (no safetensors-metadata route)."""
    from hubmem.fetch.http.client import HubClient
    from hubmem.fetch.hub import fetch_snapshot

    sem = asyncio.Semaphore(concurrency)
    out: dict[str, RepoResult] = {}
    async with HubClient(
        endpoint=endpoint, token=READER_TOKEN, max_concurrency=4 * concurrency, use_metadata_route=route
    ) as client:

        async def one(repo_id: str) -> None:
            async with sem:
                try:
                    snap = await fetch_snapshot(client, repo_id)
                except Exception as exc:
                    out[repo_id] = RepoResult(False, error=_err(exc))
                    return
                out[repo_id] = RepoResult(True)
                del snap

        await asyncio.gather(*(one(r) for r in ids))
    return out


class _RewriteTransport:
    """httpx2 transport: ``https://huggingface.co`` -> the fake Hub; loopback passes; all else refused."""

    def __init__(self, endpoint: str, inner: Any) -> None:
        import httpx2

        self.httpx2 = httpx2
        self.target = httpx2.URL(endpoint)
        self.inner = inner

    async def handle_async_request(self, request: Any) -> Any:
        url = request.url
        if (url.scheme, url.host, url.port or 443) == HF_ORIGIN:
            request.url = url.copy_with(
                scheme=self.target.scheme, host=self.target.host, port=self.target.port
            )
            request.headers["Host"] = self.target.netloc.decode("ascii")
        elif url.host not in ("127.0.0.1", "localhost", "::1"):
            raise self.httpx2.ConnectError(f"bench: refusing {url.host}", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _httpx2_for_hf_mem(endpoint: str) -> types.ModuleType:
    import httpx2

    proxy = types.ModuleType("httpx2")
    proxy.__dict__.update({k: v for k, v in vars(httpx2).items() if not k.startswith("__")})

    def async_client(**kwargs: Any) -> Any:
        inner = httpx2.AsyncHTTPTransport(
            limits=kwargs.pop("limits", httpx2.Limits()), http2=bool(kwargs.pop("http2", False))
        )
        transport = _RewriteTransport(endpoint, inner)
        return httpx2.AsyncClient(transport=transport, **kwargs)  # type: ignore[arg-type]

    proxy.AsyncClient = async_client  # type: ignore[attr-defined]
    return proxy


async def run_hf_mem(ids: list[str], endpoint: str, concurrency: int) -> dict[str, RepoResult]:
    run_module = importlib.import_module("hf_mem.run")  # ``hf_mem.run`` the attribute is a function
    sem = asyncio.Semaphore(concurrency)
    out: dict[str, RepoResult] = {}

    async def one(repo_id: str) -> None:
        async with sem:
            try:
                r = await run_module.arun(repo_id, hf_token=READER_TOKEN, experimental=True)
            except Exception as exc:  # hf-mem raises whatever httpx2 / json raise
                out[repo_id] = RepoResult(False, error=_err(exc))
                return
            st = r.safetensors
            out[repo_id] = RepoResult(
                True, r.memory if isinstance(r.memory, int) else None, st.param_count if st else None
            )

    with mock.patch.object(run_module, "httpx2", _httpx2_for_hf_mem(endpoint)), _quiet_warnings():
        await asyncio.gather(*(one(r) for r in ids))
    return out


@contextmanager
def _quiet_warnings() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def run_hf_hub(ids: list[str], endpoint: str, concurrency: int) -> dict[str, RepoResult]:
    from huggingface_hub import HfApi
    from huggingface_hub.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # its retry messages

    api = HfApi(endpoint=endpoint, token=READER_TOKEN)
    out: dict[str, RepoResult] = {}

    def one(repo_id: str) -> None:
        try:
            meta = api.get_safetensors_metadata(repo_id)
        except Exception as exc:
            out[repo_id] = RepoResult(False, error=_err(exc))
            return
        files = meta.files_metadata.values()
        out[repo_id] = RepoResult(
            True,
            sum(t.data_offsets[1] - t.data_offsets[0] for f in files for t in f.tensors.values()),
            sum(sum(f.parameter_count.values()) for f in files),
        )

    with (
        tempfile.TemporaryDirectory(prefix="bench-hf-cache-") as cache,
        ThreadPoolExecutor(concurrency) as pool,
    ):
        from huggingface_hub import constants

        with mock.patch.object(constants, "HF_HUB_CACHE", cache):
            list(pool.map(one, ids))
    return out


# -- the run ---------------------------------------------------------------------------------------------


def measure(
    hub: HubProcess, tool: str, fn: Callable[[], dict[str, RepoResult]], faults: dict[str, Any] | None
) -> Run:
    hub.call("reset")
    if faults:
        hub.call("faults", faults)
    t0, c0 = time.perf_counter(), time.process_time()
    results = fn()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    run = Run(tool, seconds, results, hub.call("stats"), cpu)
    n = len(results)
    s = run.server
    print(
        f"  {tool:<22} {run.ok:>4}/{n} ok  {seconds:7.2f} s  {n / seconds:7.1f} repos/s  "
        f"{s['requests'] / n:6.2f} req/repo  {s['bytes'] / n / 1024:8.1f} KiB/repo  "
        f"{cpu / n * 1000:6.1f} ms CPU/repo ({n / cpu if cpu else math.inf:5.0f} repos per CPU s)  "
        f"fake Hub {s['cpu_seconds'] / n * 1000:4.1f} ms CPU/repo ({s['cpu_seconds'] / seconds:.0%} of 1 CPU)"
        + (f"  errors {dict(run.errors())}" if run.ok < n else ""),
        flush=True,
    )
    seen: set[str] = set()
    for repo_id, r in run.results.items():
        kind = (r.error or "?").split(":")[0]
        if not r.ok and kind not in seen:
            seen.add(kind)
            print(f"      e.g. {repo_id}: {r.error}", flush=True)
    return run


def agreement(base: Run, other: Run) -> tuple[int, int, int]:
    """(repos both ok, same bytes, same elements)."""
    both = [r for r in base.results if base.results[r].ok and other.results.get(r, RepoResult(False)).ok]
    same_bytes = sum(1 for r in both if base.results[r].bytes == other.results[r].bytes)
    same_elems = sum(1 for r in both if base.results[r].elements == other.results[r].elements)
    return len(both), same_bytes, same_elems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m scripts.bench.scan",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--repos", type=int, default=240)
    ap.add_argument(
        "--latency", type=float, default=0.05, help="seconds added to every request (both origins)"
    )
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--fixtures", type=Path, default=default_fixtures_dir())
    ap.add_argument("--no-faults", action="store_true", help="skip the round with injected faults")
    ap.add_argument("--max-tensors", type=int, default=None, help="leave out fixture repos with more tensors")
    ap.add_argument("--json", type=Path, default=None, help="write every figure here")
    ap.add_argument(
        "--only", action="append", default=[], help="run only this (repeatable), e.g. 'hf-mem 0.5.6'"
    )
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-scan-"))
    try:
        ids = build_alias_fixtures(args.fixtures, work, args.repos, args.max_tensors)
        hub = HubProcess(work, args.latency)
        print(
            f"{len(ids)} repos ({hub.repos} served), latency {args.latency * 1000:.0f} ms, concurrency "
            f"{args.concurrency}, {platform.python_implementation()} {platform.python_version()}, "
            f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        ep, c = hub.endpoint, args.concurrency
        cache_dir = work / "header-cache"

        def hubmem(
            check: bool = False,
            cache: Path | None = None,
            workers: int | None = None,
            context: int | None = None,
        ) -> Callable[[], dict[str, RepoResult]]:
            return lambda: asyncio.run(
                run_hubmem(ids, ep, c, check=check, cache_dir=cache, workers=workers, context=context)
            )

        clean: dict[str, Callable[[], dict[str, RepoResult]]] = {
            "hubmem": hubmem(),
            "hubmem --workers 0": hubmem(workers=0),
            "hubmem fetch only": lambda: asyncio.run(run_hubmem_fetch(ids, ep, c)),
            "hubmem fetch only, ranges": lambda: asyncio.run(run_hubmem_fetch(ids, ep, c, route=False)),
            "hubmem --check": hubmem(check=True),
            "hubmem warm cache": hubmem(cache=cache_dir),
            "hubmem warm cache, new settings": hubmem(cache=cache_dir, context=65536),
            "hf-mem 0.5.6": lambda: asyncio.run(run_hf_mem(ids, ep, c)),
            "huggingface_hub": lambda: run_hf_hub(ids, ep, c),
        }
        faulty: dict[str, Callable[[], dict[str, RepoResult]]] = {
            "hubmem (faults)": hubmem(),
            "hf-mem (faults)": lambda: asyncio.run(run_hf_mem(ids, ep, c)),
            "huggingface_hub (faults)": lambda: run_hf_hub(ids, ep, c),
        }
        chosen = set(args.only or [*clean, *faulty])
        runs: dict[str, Run] = {}
        print("clean:")
        for name, fn in clean.items():
            if name in chosen:
                if name.startswith("hubmem warm cache"):  # a first, unmeasured pass fills the header cache
                    shutil.rmtree(cache_dir, ignore_errors=True)
                    asyncio.run(run_hubmem(ids, ep, c, check=False, cache_dir=cache_dir))
                runs[name] = measure(hub, name, fn, None)
        faults = {"rate_limit_every": 97, "rate_limit_reset": 1, "error_every": 31, "drop_every": 53}
        if not args.no_faults and chosen & set(faulty):
            print(f"faults {faults} (429 with Retry-After: 1 on the api/resolvers buckets):")
            for name, fn in faulty.items():
                if name in chosen:
                    runs[name] = measure(hub, name, fn, faults)
        hub.stop()

        print_comparison(runs)
        if args.json:
            write_json(args.json, len(ids), args, runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def print_comparison(runs: dict[str, Run]) -> None:
    """The peers' agreement with hubmem and their cost ratios, when hubmem and a peer both ran."""
    base = runs.get("hubmem")
    peers = [n for n in ("hf-mem 0.5.6", "huggingface_hub") if n in runs]
    if base is None or not peers:
        return
    print("agreement with hubmem (repos both ok / same weight bytes / same element count):")
    for name in peers:
        both, sb, se = agreement(base, runs[name])
        print(f"  {name:<18} {both} / {sb} / {se}")
    print("ratios (other / hubmem): wall time, requests per repo, bytes per repo")
    for name in peers:
        o = runs[name]
        req = o.server["requests"] / base.server["requests"]
        nbytes = o.server["bytes"] / base.server["bytes"]
        t = o.seconds / base.seconds
        print(f"  {name:<18} time x{t:.2f}  requests x{req:.2f}  bytes x{nbytes:.2f}")


def write_json(path: Path, repos: int, args: argparse.Namespace, runs: dict[str, Run]) -> None:
    path.write_text(
        json.dumps(
            {
                "repos": repos,
                "latency": args.latency,
                "concurrency": args.concurrency,
                "runs": {
                    k: {
                        "seconds": r.seconds,
                        "cpu_seconds": r.cpu,
                        "ok": r.ok,
                        "errors": dict(r.errors()),
                        "server": r.server,
                    }
                    for k, r in runs.items()
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
