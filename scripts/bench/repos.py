"""Per-repo fetch cost: hubmem vs huggingface_hub's get_safetensors_metadata vs hf-mem 0.5.6, side by side,
against the fake Hub (in this process, in a thread) with injected latency on both origins.

    .venv/bin/python -m scripts.bench.repos                  # every real fixture repo, 3 cold runs each
    .venv/bin/python -m scripts.bench.repos --latency 0.1 --runs 5 --repos Qwen/Qwen3-8B openai/gpt-oss-20b
    .venv/bin/python -m scripts.bench.repos --write          # also rewrite the "Per-repo fetch cost"
                                                             # section of scripts/BENCHMARKS.md

Per repo and tool it records, from the fake Hub's request log (not from the tools' own accounting):
requests per origin (hub + cdn), body bytes the server sent (both origins), and round trips: the longest
chain of requests in which each one arrived after the previous one had been answered (dependent requests
and waves forced by a concurrency limit both count). Plus the wall time of the call (median of the runs)
and the weight bytes / element count each tool computed, so the answers can be compared. Every run is
cold (scripts/bench/peers.py). Repos: every served real-model fixture, plus hubmem-test/header-99995 as a
correctness row (a 99,995-byte header: hf-mem 0.5.6's boundary bug). Gated repos get the fixtures'
reader token, for every tool. "hubmem (ranges)" is hubmem with the safetensors-metadata route turned off
(``HubClient(use_metadata_route=False)``), measured on sharded repos only (single files never use it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from scripts import ROOT, results
from scripts.bench import peers

DOC = results.BENCHMARKS
SECTION = "## Per-repo fetch cost"  # the heading of this script's section (scripts.results name bench.repos)
DOC_INTRO = (
    "# hubmem benchmarks\n\n"
    "Measurements of hubmem against its peers, each produced by a script in `scripts/`. Every section\n"
    "gives the exact command, the machine and the date; rerun the command to refresh it.\n"
)
CORRECTNESS_ONLY = ("hubmem-test/header-99995",)
# same layout and headers as another fixture: skipped unless named with --repos or --all
DUPLICATES = {"deepseek-ai/DeepSeek-V3": "deepseek-ai/DeepSeek-R1"}
HEAVY_TENSORS = 15_000  # repos with at least this many tensors get --heavy-runs runs (CPU-bound, slow)
TOOLS = ("hubmem", "hubmem-ranges", "huggingface_hub", "hf-mem")
TABLE_TOOLS = ("hubmem", "huggingface_hub", "hf-mem")
PEERS = ("huggingface_hub", "hf-mem")
SHORT = {
    "hubmem": "hubmem",
    "hubmem-ranges": "hubmem (ranges)",
    "huggingface_hub": "hf_hub",
    "hf-mem": "hf-mem",
}
CHAIN_SLACK = 0.005  # s: a request "follows" another when it arrived after that one's answer (minus this)
WARMUP_REPO = "Qwen/Qwen3-0.6B"


# -- fixtures -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Repo:
    repo_id: str
    gated: bool
    safetensors: int  # number of .safetensors files in the root
    sharded: bool
    tensors: int  # weight_map entries of the index (0 for single-file repos)

    @property
    def heavy(self) -> bool:
        return self.tensors >= HEAVY_TENSORS


def fixture_repos(fixtures: Path) -> list[Repo]:
    """Served real-model repos (repo.json present, not hubmem-test/*) plus the correctness-only rows."""
    out: list[Repo] = []
    for path in sorted((fixtures / "repos").glob("*/repo.json")):
        meta = json.loads(path.read_text())
        repo_id: str = meta["repo_id"]
        if repo_id.startswith("hubmem-test/") and repo_id not in CORRECTNESS_ONLY:
            continue
        if meta.get("private") or meta.get("disabled"):
            continue
        files = meta.get("files", {})
        n = sum(1 for p in files if p.endswith(".safetensors") and "/" not in p)
        index = path.parent / "files" / "model.safetensors.index.json"
        tensors = len(json.loads(index.read_text()).get("weight_map", {})) if index.exists() else 0
        out.append(
            Repo(repo_id, bool(meta.get("gated")), n, "model.safetensors.index.json" in files, tensors)
        )
    return out


# -- measurement --------------------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    hub_requests: int
    cdn_requests: int
    hub_bytes: int
    cdn_bytes: int
    round_trips: int
    statuses: dict[str, int]
    result: peers.ToolResult
    route_ms: float | None = None  # server-side time of the safetensors-metadata request (latency included)

    @property
    def requests(self) -> int:
        return self.hub_requests + self.cdn_requests

    @property
    def nbytes(self) -> int:
        return self.hub_bytes + self.cdn_bytes


@dataclass
class Cell:
    """One tool on one repo: its runs and their medians."""

    tool: str
    runs: list[Run] = field(default_factory=list)

    def _median(self, get: Callable[[Run], float]) -> float:
        return float(statistics.median(get(r) for r in self.runs))

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(r.result.ok for r in self.runs)

    @property
    def result(self) -> peers.ToolResult:
        return self.runs[0].result

    @property
    def requests(self) -> float:
        return self._median(lambda r: r.requests)

    @property
    def round_trips(self) -> float:
        return self._median(lambda r: r.round_trips)

    @property
    def nbytes(self) -> float:
        return self._median(lambda r: r.nbytes)

    @property
    def ms(self) -> float:
        return self._median(lambda r: r.seconds) * 1000

    @property
    def fetch_ms(self) -> float:
        """hubmem: the fetch stage alone; the peers: the whole call."""
        return self._median(lambda r: r.result.fetch_seconds or r.seconds) * 1000

    @property
    def median_run(self) -> Run:
        return sorted(self.runs, key=lambda r: r.seconds)[len(self.runs) // 2]

    @property
    def deterministic(self) -> bool:
        """Same requests and bytes in every run."""
        return len({(r.hub_requests, r.cdn_requests, r.nbytes) for r in self.runs}) == 1


def round_trips(entries: Sequence[Any]) -> int:
    """Longest chain of logged requests r1, r2, ... where r(i+1) arrived after r(i) had been answered."""
    spans = sorted((float(e.time), float(e.time) + float(e.duration)) for e in entries)
    chains: list[tuple[float, int]] = []  # (end, longest chain ending with this request)
    longest = 0
    for start, end in spans:
        length = 1 + max((n for e, n in chains if e - CHAIN_SLACK <= start), default=0)
        chains.append((end, length))
        longest = max(longest, length)
    return longest


def runner(tool: str, hf_mem_experimental: bool = False) -> peers.Runner:
    if tool == "hf-mem" and hf_mem_experimental:
        return functools.partial(peers.run_hf_mem, experimental=True)
    return peers.TOOLS[tool]


def measure(
    hub: Any, tool: str, repo: Repo, token: str | None, settle: float, hf_mem_experimental: bool = False
) -> Run:
    hub.log.reset()
    result = runner(tool, hf_mem_experimental)(repo.repo_id, endpoint=hub.endpoint, token=token)
    # every request a peer sends has been answered when it returns; hubmem cancels speculative reads
    # nobody needs, whose server side still finishes (and is logged) a little later
    deadline = time.monotonic() + (settle if tool.startswith("hubmem") else 0.0)
    expected = result.self_requests or 0
    time.sleep(0.005)
    while len(hub.log) < expected and time.monotonic() < deadline:
        time.sleep(0.005)
    entries = hub.log.entries
    statuses: dict[str, int] = {}
    for e in entries:
        statuses[str(e.status)] = statuses.get(str(e.status), 0) + 1
    return Run(
        seconds=result.seconds,
        hub_requests=sum(1 for e in entries if e.origin == "hub"),
        cdn_requests=sum(1 for e in entries if e.origin == "cdn"),
        hub_bytes=sum(e.bytes_sent for e in entries if e.origin == "hub"),
        cdn_bytes=sum(e.bytes_sent for e in entries if e.origin == "cdn"),
        round_trips=round_trips(entries),
        statuses=statuses,
        result=result,
        route_ms=next((e.duration * 1000 for e in entries if "/safetensors-metadata/" in e.path), None),
    )


@dataclass
class Bench:
    repos: list[Repo]
    cells: dict[str, dict[str, Cell]]  # repo id -> tool -> cell
    settings: dict[str, Any]


def run_bench(args: argparse.Namespace, repos: list[Repo]) -> Bench:
    from hubmem.fakehub.faults import FaultConfig
    from hubmem.fakehub.fixtures.layout import READER_TOKEN
    from hubmem.fakehub.thread import run_in_thread

    faults = FaultConfig(latency=args.latency, cdn_latency=args.cdn_latency)
    cells: dict[str, dict[str, Cell]] = {r.repo_id: {} for r in repos}
    started = time.perf_counter()
    load_before = os.getloadavg()
    with run_in_thread(args.fixtures, faults=faults, regular_redirect=args.regular_redirect) as hub:
        settle = max(args.latency, args.cdn_latency or 0.0) + 0.05
        warm = next((r for r in repos if r.repo_id == WARMUP_REPO), repos[0])
        for tool in TOOLS:  # imports, first connections, pydantic schema builds: not measured
            token = READER_TOKEN if warm.gated else None
            runner(tool, args.hf_mem_experimental)(warm.repo_id, endpoint=hub.endpoint, token=token)
        for repo in repos:
            token = READER_TOKEN if repo.gated else None
            tools = [t for t in TOOLS if t != "hubmem-ranges" or repo.sharded]
            n = args.heavy_runs if repo.heavy else args.runs
            for i in range(n):
                for tool in tools:
                    if tool == "hubmem-ranges" and i >= min(n, args.ranges_runs):
                        continue
                    run = measure(hub, tool, repo, token, settle, args.hf_mem_experimental)
                    cells[repo.repo_id].setdefault(tool, Cell(tool)).runs.append(run)
            if args.verbose:
                line = "  ".join(
                    f"{SHORT[t]} {c.requests:.0f}req {c.round_trips:.0f}RT "
                    f"{c.nbytes / 1024:,.0f}KiB {c.ms:,.0f}ms" + ("" if c.ok else f" FAIL {c.result.error}")
                    for t, c in cells[repo.repo_id].items()
                )
                print(f"{repo.repo_id}: {line}", file=sys.stderr)
    settings = {
        "latency_ms": args.latency * 1000,
        "cdn_latency_ms": (args.cdn_latency if args.cdn_latency is not None else args.latency) * 1000,
        "runs": args.runs,
        "heavy_runs": args.heavy_runs,
        "ranges_runs": args.ranges_runs,
        "load": (load_before, os.getloadavg()),
        "regular_redirect": args.regular_redirect,
        "hf_mem_experimental": args.hf_mem_experimental,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "versions": versions(),
        "command": " ".join(["-m scripts.bench.repos", *_without_json(args.argv)]),
    }
    return Bench(repos, cells, settings)


def _without_json(argv: Sequence[str]) -> list[str]:
    """The command line minus --json PATH (a local dump, not part of the benchmark)."""
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
        elif a == "--json":
            skip = True
        elif not a.startswith("--json="):
            out.append(a)
    return out


def bench_to_json(bench: Bench) -> dict[str, Any]:
    return {
        "settings": bench.settings,
        "repos": [asdict(r) for r in bench.repos],
        "cells": {
            rid: {t: [asdict(run) for run in c.runs] for t, c in row.items()}
            for rid, row in bench.cells.items()
        },
    }


def bench_from_json(data: dict[str, Any]) -> Bench:
    cells = {
        rid: {
            t: Cell(t, [Run(**{**run, "result": peers.ToolResult(**run["result"])}) for run in runs])
            for t, runs in row.items()
        }
        for rid, row in data["cells"].items()
    }
    return Bench([Repo(**r) for r in data["repos"]], cells, data["settings"])


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cores} cores ({cpu}), {platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def versions() -> dict[str, str]:
    out = {}
    for dist in ("hubmem", "huggingface_hub", "hf-mem", "httpx2", "aiohttp"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "?"
    return out


# -- report -------------------------------------------------------------------------------------------------


def geomean(values: Iterable[float]) -> float | None:
    vals = [v for v in values if v > 0]
    return math.exp(sum(math.log(v) for v in vals) / len(vals)) if vals else None


def fmt_ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _both_ok(bench: Bench, a: str, b: str, repos: Iterable[Repo]) -> list[tuple[Cell, Cell]]:
    pairs = []
    for repo in repos:
        row = bench.cells[repo.repo_id]
        if a in row and b in row and row[a].ok and row[b].ok:
            pairs.append((row[a], row[b]))
    return pairs


def per_repo_table(bench: Bench) -> list[str]:
    heads = [SHORT[t] for t in TABLE_TOOLS]
    groups = ("requests (hub+cdn)", "round trips", "KiB sent", "wall ms")
    lines = [
        "| repo | st files | " + " | ".join(f"{g}: {h}" for g in groups for h in heads) + " |",
        "|---|--:|" + "--:|" * (len(groups) * len(heads)),
    ]
    for repo in bench.repos:
        row = bench.cells[repo.repo_id]
        cols: list[str] = []
        metrics: list[Callable[[Cell], str]] = [
            lambda c: f"{c.median_run.requests} ({c.median_run.hub_requests}+{c.median_run.cdn_requests})",
            lambda c: f"{c.round_trips:.0f}",
            lambda c: f"{c.nbytes / 1024:,.1f}",
            lambda c: f"{c.ms:,.0f}" + (f" ({c.fetch_ms:,.0f})" if c.tool == "hubmem" else ""),
        ]
        for metric in metrics:
            for tool in TABLE_TOOLS:
                cell = row.get(tool)
                cols.append("-" if cell is None else metric(cell) if cell.ok else "**fail**")
        runs = len(row["hubmem"].runs) if "hubmem" in row else 0
        name = repo.repo_id + (" (gated)" if repo.gated else "") + (f" (n={runs})" if repo.heavy else "")
        lines.append(f"| {name} | {repo.safetensors} | " + " | ".join(cols) + " |")
    return lines


def correctness_table(bench: Bench) -> list[str]:
    lines = [
        "| repo | weight bytes (hubmem) | elements (hubmem) | logical params (hubmem) | hf_hub | hf-mem |",
        "|---|--:|--:|--:|---|---|",
    ]
    for repo in bench.repos:
        row = bench.cells[repo.repo_id]
        ref = row.get("hubmem")
        base = ref.result if ref is not None and ref.ok else None

        def verdict(tool: str, base: peers.ToolResult | None = base, row: dict[str, Cell] = row) -> str:
            cell = row.get(tool)
            if cell is None:
                return "-"
            if not cell.ok:
                return f"**fails**: `{cell.result.error}`"
            r = cell.result
            if base is None:
                return f"{r.bytes:,} B, {r.elements:,} el" if r.bytes is not None else "?"
            same = (r.bytes, r.elements) == (base.bytes, base.elements)
            consistent = len({(x.result.bytes, x.result.elements) for x in cell.runs}) == 1
            text = "same" if same else f"**differs**: {r.bytes:,} B, {r.elements:,} el"
            return text + ("" if consistent else " (varies between runs)")

        if base is None:
            err = ref.result.error if ref is not None else "not run"
            first = f"**hubmem fails**: `{err}` | | "
        else:
            first = f"{base.bytes:,} | {base.elements:,} | {base.parameters:,}"
        lines.append(f"| {repo.repo_id} | {first} | {verdict('huggingface_hub')} | {verdict('hf-mem')} |")
    return lines


METRICS = ("requests", "round_trips", "nbytes", "ms", "fetch_ms")


def groups(bench: Bench) -> dict[str, list[Repo]]:
    return {
        "all": bench.repos,
        "single file": [r for r in bench.repos if not r.sharded],
        "sharded": [r for r in bench.repos if r.sharded],
    }


def ratios(bench: Bench, num: str, den: str, group: str) -> tuple[int, dict[str, float | None]]:
    """Geometric means of num/den per metric over the repos of ``group`` both tools read:
    (number of repos, metric -> ratio)."""
    pairs = _both_ok(bench, num, den, groups(bench)[group])
    return len(pairs), {m: geomean(getattr(a, m) / getattr(b, m) for a, b in pairs) for m in METRICS}


def summary_table(bench: Bench) -> list[str]:
    lines = [
        "| ratio (geometric mean over repos) | repos | requests | round trips | bytes sent | wall time "
        "| fetch-stage wall time |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    rows = [(peer, "hubmem", g) for peer in PEERS for g in ("all", "single file", "sharded")]
    rows += [(peer, "hubmem-ranges", "sharded") for peer in PEERS]
    rows.append(("hubmem-ranges", "hubmem", "sharded"))
    for num, den, group in rows:
        n, g = ratios(bench, num, den, group)
        if n:
            cols = " | ".join(fmt_ratio(g[m]) for m in METRICS)
            lines.append(f"| {SHORT[num]} / {SHORT[den]}, {group} | {n} | {cols} |")
    return lines


def totals_table(bench: Bench) -> list[str]:
    """Sums over the repos every tool read successfully (so the totals compare like with like)."""
    common = [
        r
        for r in bench.repos
        if all(t in bench.cells[r.repo_id] and bench.cells[r.repo_id][t].ok for t in TABLE_TOOLS)
    ]
    lines = [
        f"Totals over the {len(common)} repos all three read (medians per repo, summed):",
        "",
        "| tool | requests | of which CDN | non-2xx answers | KiB sent | wall s |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for tool in TABLE_TOOLS:
        cells = [bench.cells[r.repo_id][tool] for r in common]
        runs = [c.median_run for c in cells]
        non2xx = sum(n for r in runs for s, n in r.statuses.items() if not s.startswith("2"))
        lines.append(
            f"| {SHORT[tool]} | {sum(r.requests for r in runs):,} | {sum(r.cdn_requests for r in runs):,} "
            f"| {non2xx:,} | {sum(c.nbytes for c in cells) / 1024:,.0f} "
            f"| {sum(c.ms for c in cells) / 1000:,.2f} |"
        )
    return lines


def route_table(bench: Bench) -> list[str]:
    sharded = [r for r in bench.repos if r.sharded and "hubmem-ranges" in bench.cells[r.repo_id]]
    lines = [
        "| repo | shards | tensors | requests: route / ranges | round trips (log) | round trips (FetchStats) "
        "| KiB sent | fetch ms | route request, server ms |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for repo in sharded:
        a, b = bench.cells[repo.repo_id]["hubmem"], bench.cells[repo.repo_id]["hubmem-ranges"]
        if not (a.ok and b.ok):
            continue
        lines.append(
            f"| {repo.repo_id} | {repo.safetensors} | {repo.tensors:,} | {a.requests:.0f} / {b.requests:.0f} "
            f"| {a.round_trips:.0f} / {b.round_trips:.0f} "
            f"| {a.result.self_round_trips} / {b.result.self_round_trips} "
            f"| {a.nbytes / 1024:,.1f} / {b.nbytes / 1024:,.1f} | {a.fetch_ms:,.0f} / {b.fetch_ms:,.0f} "
            f"| {_route_ms(a)} |"
        )
    return lines


def _route_ms(cell: Cell) -> str:
    vals = [r.route_ms for r in cell.runs if r.route_ms is not None]
    return f"{statistics.median(vals):,.0f}" if vals else "-"


def notes(bench: Bench) -> list[str]:
    """Facts the tables hide: failures, runs that differed, hubmem's own count vs the log."""
    out: list[str] = []
    for repo in bench.repos:
        for tool, cell in bench.cells[repo.repo_id].items():
            if not cell.ok:
                out.append(f"- {SHORT[tool]} fails on {repo.repo_id}: `{cell.result.error}`")
            elif not cell.deterministic:
                reqs = sorted({r.requests for r in cell.runs})
                out.append(
                    f"- {SHORT[tool]} on {repo.repo_id}: requests/bytes differ between runs (requests {reqs})"
                )
            if tool.startswith("hubmem") and cell.ok:
                mine = {r.result.self_requests or 0 for r in cell.runs}
                logged = {r.requests for r in cell.runs}
                if mine != logged:
                    out.append(
                        f"- {SHORT[tool]} on {repo.repo_id}: FetchStats counted {sorted(mine)} requests, "
                        f"the fake Hub logged {sorted(logged)}"
                    )
    return out


SETUP = """\
Command: `.venv/bin/python {command}`. Date: {date}.
Machine: {machine}; load average (1/5/15 min) {load0} at the start, {load1} at the end: other work
shared the machine, so wall times are noisy; requests, bytes and round trips are not.
Whole run: {elapsed_s} s.

Fake Hub: `hubmem.fakehub.run_in_thread` (same process, own thread and event loop) over `fixtures/`,
{latency_ms:.0f} ms injected latency per request on the Hub origin and {cdn_latency_ms:.0f} ms on the CDN
origin; regular files answered `{regular_redirect}` (some straight, some with a 307 to
`/api/resolve-cache`, as the real Hub does). Tools: hubmem {v_hubmem} (httpx2 {v_httpx2});
huggingface_hub {v_hf_hub} `HfApi(endpoint=..., token=...).get_safetensors_metadata(repo)`; hf-mem {v_hf_mem}
`hf_mem.run.arun(repo, hf_token=...{hf_mem_mode})` (httpx2 {v_httpx2}). {runs} cold runs per tool and repo
({heavy_runs} for the CPU-bound repos with at least {heavy:,} tensors, marked n={heavy_runs};
{ranges_runs} for hubmem without the route), tools interleaved. Wall time is the median of the runs;
requests and bytes come from the fake Hub's request log
(median run; identical across runs unless a note says otherwise). hubmem's wall time is the whole
`analyze_async` equivalent (fetch + parse + every estimate: weights, KV cache, training); its fetch stage
alone is in parentheses. {skipped}

How the tools are run (`scripts/bench/peers.py`, reusable by other benchmarks):

- Every call is cold. hubmem opens a new `HubClient` with no header cache. huggingface_hub's session is
  closed first (no kept-alive connection) and `HF_HUB_CACHE` points at a fresh empty directory (its
  `get_safetensors_metadata` downloads the index into the cache, and would reuse it). hf-mem builds its own
  client on every call. `HF_HOME` is a temporary directory with no token file and `HF_TOKEN` is unset, so
  only gated repos carry a token (the fixtures' reader token, given to all three).
- hf-mem hard-codes `https://huggingface.co` and creates its `httpx2.AsyncClient` inside `arun` (no client
  parameter). For the duration of the call the adapter replaces the name `httpx2` inside `hf_mem.run` only
  with a proxy module whose `AsyncClient` builds exactly the client hf-mem asked for (its limits, http2,
  timeout, follow_redirects) over `OriginRewriteTransport`: requests for the origin
  `https://huggingface.co` go to the fake Hub's endpoint (scheme, host, port and Host header rewritten);
  the 302 targets on the fake CDN origin pass through untouched; any other host is refused, so nothing can
  reach the real Hub. Redirect following, Authorization stripping on cross-origin redirects and Range
  headers stay httpx2's own.
- Round trips (RT) are read off the log: the longest chain of requests each of which arrived after the
  previous one had been answered. Requests queued behind a concurrency limit, or behind a busy CPU, count
  as extra round trips, as they cost the same wall time. hubmem's own protocol count
  (`FetchStats.round_trips`) is in the route table below.
- Bytes: response body bytes the server sent, both origins (HEAD = 0, headers excluded).
- Concurrency as shipped: hubmem 32 requests in flight; huggingface_hub `hf_thread_map` with
  min(32, cores + 4) threads; hf-mem `MAX_WORKERS` = min(32, cores + 4). That is 6 on this {cores}-core
  machine.
"""

AGREE = """\
Weight bytes and raw element counts (`sum(prod(shape))`) computed by each tool; *same* = identical to
hubmem's. huggingface_hub returns no byte total: its bytes are summed here from the `data_offsets` it
returned. hf-mem's bytes are its own `prod(shape) x dtype width`. Logical parameters (packed formats
unpacked, quantization scales excluded) are hubmem's alone.
"""

ROUTE = """\
hubmem reads every shard header of a sharded repo on `main` with one
`GET /api/models/{id}/safetensors-metadata/{index}` plus one `POST .../paths-info/{sha}` for the shard
sizes (it needs N = size - 8 - data end; both at the resolved sha's wave). With `use_metadata_route=False`
it range-reads each shard instead (first read sized from the index's tensor names, a second read only
when the header is longer). Values: route / ranges.
"""


def _load(avg: Sequence[float]) -> str:
    return "/".join(f"{x:.1f}" for x in avg)


def render(bench: Bench, findings: str) -> str:
    s = bench.settings
    v = s["versions"]
    cores = s["machine"].split(" ", 1)[0]
    skipped = [r for r in DUPLICATES if r not in bench.cells]
    setup = SETUP.format(
        command=s["command"],
        date=s["date"],
        machine=s["machine"],
        cores=cores,
        load0=_load(s["load"][0]),
        load1=_load(s["load"][1]),
        elapsed_s=s["elapsed_s"],
        latency_ms=s["latency_ms"],
        cdn_latency_ms=s["cdn_latency_ms"],
        regular_redirect=s["regular_redirect"],
        v_hubmem=v["hubmem"],
        v_hf_hub=v["huggingface_hub"],
        v_hf_mem=v["hf-mem"],
        v_httpx2=v["httpx2"],
        hf_mem_mode=", experimental=True" if s.get("hf_mem_experimental") else "",
        runs=s["runs"],
        heavy_runs=s["heavy_runs"],
        ranges_runs=s.get("ranges_runs", s["runs"]),
        heavy=HEAVY_TENSORS,
        skipped=(
            "Not run: "
            + ", ".join(f"{r} (same layout and headers as {DUPLICATES[r]})" for r in skipped)
            + "."
            if skipped
            else ""
        ),
    )
    out = [
        SECTION,
        "",
        setup.rstrip(),
        "",
        "### Summary",
        "",
        "Ratios above 1 mean the peer costs more than hubmem. Wall time: the whole call (hubmem: fetch + "
        "parse + every estimate). Fetch-stage wall time: hubmem's fetch stage alone against the peers' whole "
        "call (they compute nothing beyond sums).",
        "",
        *summary_table(bench),
        "",
        *totals_table(bench),
        "",
        "### Findings",
        "",
        findings.strip(),
        "",
        "### Per repo",
        "",
        *per_repo_table(bench),
        "",
        "### Do the answers agree?",
        "",
        AGREE.rstrip(),
        "",
        *correctness_table(bench),
        "",
        "### Safetensors-metadata route vs range reads (hubmem, sharded repos)",
        "",
        ROUTE.rstrip(),
        "",
        *route_table(bench),
        "",
    ]
    extra = notes(bench)
    if extra:
        out += ["### Notes from this run", "", *extra, ""]
    return "\n".join(out)


def findings(bench: Bench) -> str:
    """The findings, with every figure taken from this run (a repo that was not run drops its sentences)."""
    cells = bench.cells

    def cell(repo: str, tool: str) -> Cell | None:
        c = cells.get(repo, {}).get(tool)
        return c if c is not None and c.ok else None

    def fig(repo: str, tool: str, what: str) -> str:
        c = cell(repo, tool)
        if c is None:
            return "?"
        r = c.median_run
        values = {
            "req": f"{r.requests}",
            "rt": f"{c.round_trips:.0f}",
            "ms": f"{c.ms:,.0f} ms",
            "s": f"{c.ms / 1000:.1f} s",
            "fetch_s": f"{c.fetch_ms / 1000:.2f} s",
            "route_ms": _route_ms(c) + " ms",
            "kib": f"{c.nbytes / 1024:,.0f} KiB",
            "mb": f"{c.nbytes / 1e6:,.1f} MB",
        }
        return values[what]

    def r(num: str, den: str, group: str, metric: str) -> str:
        return fmt_ratio(ratios(bench, num, den, group)[1][metric])

    def span(tool: str, group: str, attr: str) -> str:
        vals = sorted(
            {
                round(getattr(cells[x.repo_id][tool], attr))
                for x in groups(bench)[group]
                if cell(x.repo_id, tool)
            }
        )
        if not vals:
            return "?"
        return str(vals[0]) if len(vals) == 1 else f"{vals[0]}-{vals[-1]}"

    def self_rt(group: str) -> str:
        vals = sorted(
            {
                run.result.self_round_trips or 0
                for x in groups(bench)[group]
                if (c := cell(x.repo_id, "hubmem")) is not None
                for run in c.runs
            }
        )
        return "?" if not vals else str(vals[0]) if len(vals) == 1 else f"{vals[0]}-{vals[-1]}"

    single_n = len(groups(bench)["single file"])
    sharded_n = len(groups(bench)["sharded"])
    ds, falcon, q235, q30fp8 = (
        "deepseek-ai/DeepSeek-R1",
        "tiiuae/falcon-180B-chat",
        "Qwen/Qwen3-235B-A22B-FP8",
        "Qwen/Qwen3-30B-A3B-FP8",
    )
    gptq, h99, q06 = "TheBloke/Llama-2-13B-chat-GPTQ", "hubmem-test/header-99995", "Qwen/Qwen3-0.6B"
    hf, hm, me, mr = "huggingface_hub", "hf-mem", "hubmem", "hubmem-ranges"
    out = [
        f"1. **Sharded repos ({sharded_n}): hubmem is the cheapest on every count.** It needs "
        f"{span(me, 'sharded', 'requests')} requests and {span(me, 'sharded', 'round_trips')} round trips "
        f"in the log ({self_rt('sharded')} by its own count, `FetchStats.round_trips`) whatever the shard "
        "count: revision info | config.json | index | `model.safetensors` probe, then the "
        "index body (the Hub answers it with a 307 to `/api/resolve-cache`), then the safetensors-metadata "
        "route | paths-info. The peers pay 2 requests per shard (302 + ranged 206 from the CDN) plus 3-6: "
        f"on {ds} (163 shards) huggingface_hub sends {fig(ds, hf, 'req')} requests in {fig(ds, hf, 'rt')} "
        f"round trips and hf-mem {fig(ds, hm, 'req')} in {fig(ds, hm, 'rt')}. Geometric means over the "
        f"sharded repos: requests x{r(hf, me, 'sharded', 'requests')} (huggingface_hub) and "
        f"x{r(hm, me, 'sharded', 'requests')} (hf-mem), bytes x{r(hf, me, 'sharded', 'nbytes')} and "
        f"x{r(hm, me, 'sharded', 'nbytes')} (the route sends each header once as compact JSON; the peers "
        f"read a flat 100,001 bytes per shard), wall time x{r(hf, me, 'sharded', 'ms')} and "
        f"x{r(hm, me, 'sharded', 'ms')}. Largest gap: {falcon} (81 small shards), hubmem "
        f"{fig(falcon, me, 'ms')} vs {fig(falcon, hf, 'ms')} / {fig(falcon, hm, 'ms')}.",
        "2. **Without the route** (`use_metadata_route=False`: revisions other than `main`, endpoints "
        "without the route) hubmem sends about as many requests as the peers "
        f"(x{r(hf, mr, 'sharded', 'requests')} / x{r(hm, mr, 'sharded', 'requests')}) but in 4 protocol "
        f"round trips (`FetchStats`) instead of {span(hf, 'sharded', 'round_trips')} (huggingface_hub) and "
        f"{span(hm, 'sharded', 'round_trips')} (hf-mem), as all shard reads start at once (32 in flight "
        "against the peers' 6 here) and a second read of a long header goes straight to the signed CDN URL; "
        f"and x{r(hf, mr, 'sharded', 'nbytes')} / x{r(hm, mr, 'sharded', 'nbytes')} fewer bytes, as first "
        "reads are sized from the index's tensor names. The round trips read off the log grow on the big "
        f"repos ({fig(ds, mr, 'rt')} on {ds}): when 163 headers arrive together, decoding them on one "
        "event loop (and the in-process fake Hub serving them) delays the next sends.",
        f"3. **Single-file repos ({single_n}): hubmem sends about twice the requests** (x"
        f"{r(hf, me, 'single file', 'requests')} / x{r(hm, me, 'single file', 'requests')}; on a plain "
        f"checkpoint such as {q06} {fig(q06, me, 'req')} against {fig(q06, hf, 'req')}) **but needs fewer "
        f"round trips** ({fig(q06, me, 'rt')} against {fig(q06, hf, 'rt')}), bytes about equal (all "
        "read about 100 kB of the file). The extra requests: the revision info (commit sha + file list, "
        "so that everything is read at one commit), config.json (hubmem needs the architecture; the "
        "peers do not read it in these modes), a second hop when the Hub answers config.json with a 307, "
        "and the speculative `model.safetensors.index.json` read, a 404 on every single-file repo (sharded "
        "repos pay the same 404 for the speculative `model.safetensors` read). So one request per repo is "
        "spent on the resolvers bucket to save one round trip. Wall time still favours hubmem (x"
        f"{r(hf, me, 'single file', 'ms')} / x{r(hm, me, 'single file', 'ms')}). {gptq}: "
        f"{fig(gptq, me, 'req')} requests against {fig(gptq, hf, 'req')}, as hubmem also reads "
        "quantize_config.json; round trips "
        f"{fig(gptq, me, 'rt')} against {fig(gptq, hf, 'rt')} (its header is longer than 100 kB).",
        "4. **Where hubmem is slower: the CPU-bound MoE repos** (19k-92k tensors). Wall time: "
        f"{q30fp8} hubmem {fig(q30fp8, me, 's')} vs {fig(q30fp8, hf, 's')} / {fig(q30fp8, hm, 's')}; "
        f"{q235} {fig(q235, me, 's')} vs {fig(q235, hf, 's')} / {fig(q235, hm, 's')}; {ds} "
        f"{fig(ds, me, 's')} vs {fig(ds, hf, 's')} / {fig(ds, hm, 's')} (one run each, noisy). Two causes, "
        "neither of them network: (a) hubmem parses every tensor and computes every estimate "
        f"(components, MoE, quantization, KV, training): on {ds} its fetch stage is {fig(ds, me, 'fetch_s')} "
        f"of the {fig(ds, me, 's')}, while the peers only sum shapes; (b) on these repos the route makes "
        "hubmem's fetch stage slower than its own range reads "
        f"({q235}: {fig(q235, me, 'fetch_s')} vs {fig(q235, mr, 'fetch_s')}; {q30fp8}: "
        f"{fig(q30fp8, me, 'fetch_s')} vs {fig(q30fp8, mr, 'fetch_s')}) despite 3 round trips against 4+: "
        "the fake Hub, in the same process and under the same GIL, spends "
        f"{fig(q235, me, 'route_ms')} ({q235}) building the 9-12 MB route answer, and the client then "
        "decodes it in one piece, where range reads overlap decoding with the network. On the real Hub the "
        "server part runs elsewhere, so this setup overstates the route's cost; the client-side decode "
        "remains.",
        "5. **Answers**: all three agree on weight bytes and element counts on every repo they read. hf-mem "
        f"0.5.6 fails on {h99} (JSONDecodeError): it tests `metadata_size < 100_000` where the 100,001 "
        "bytes it read hold a header of at most 99,993 bytes, so it parses a truncated JSON. huggingface_hub "
        f"2.4 reads it with a second request ({fig(h99, hf, 'req')} requests, {fig(h99, hf, 'rt')} round "
        f"trips); hubmem with {fig(h99, me, 'req')} requests in {fig(h99, me, 'rt')} round trips (the 3 "
        "missing bytes come straight from the CDN URL of the first read).",
        "6. **hf-mem's KV-cache mode** (`experimental=True`, the closest to hubmem's output; `--hf-mem-"
        "experimental` here) reads config.json after the headers: 2 more requests and 2 more round trips "
        "on every repo (measured separately on the small repos), and it raises RuntimeError on "
        f"{gptq} and openai/gpt-oss-20b (`--kv-cache-dtype=auto` with a `quantization_config`). The "
        "tables use its default mode.",
        "7. **Concurrency caveat**: the peers' round trips on many-shard repos come from min(32, cores + 4) "
        "= 6 workers on this 2-core machine; with 28+ cores they would run 32 at once and, e.g., on "
        f"{falcon} need about 9-12 round trips instead of {fig(falcon, hf, 'rt')} / {fig(falcon, hm, 'rt')}. "
        "hubmem's count does not depend on the core count.",
        "",
        "Cheap wins for `hubmem/fetch` (not applied; described for the fetch owner):",
        "",
        "- `layout.shards_of` calls `posixpath.normpath(join(base, shard))` once per `weight_map` entry "
        "(91,991 on DeepSeek-R1 for 163 distinct shards); memoising per distinct shard name removes about "
        "0.1-0.2 s from that repo's fetch stage (cProfile: `shards_of` 0.22 s cumulative).",
        "- Range path, first read: `PER_TENSOR_BYTES = 128` over-reads the headers by 42-91 % on the "
        "fixtures (45 % on the FP8 MoE repos: about 2 MB on Qwen3-30B-A3B-FP8, 5 MB on DeepSeek-R1); "
        "the most any fixture shard needs is 76 bytes per tensor on top of its names and the 2 KiB margin "
        "(Qwen3-30B-A3B). About 96 would still read every fixture header in one request and halve the "
        "over-read. It only matters without the route.",
        "- The speculative probes (the index of a single-file repo, `model.safetensors` of a sharded one) "
        "cost one 404 per repo on the resolvers bucket and no time. Worth keeping for single repos; a batch "
        "scan that already holds the sibling list of a repo (e.g. from a previous run at the same sha) "
        "could skip the probe it knows is a 404.",
    ]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.bench.repos", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--latency", type=float, default=0.05, help="seconds added to every request (default 0.05)"
    )
    p.add_argument("--cdn-latency", type=float, default=None, help="CDN origin latency (default: --latency)")
    p.add_argument("--runs", type=int, default=3, help="cold runs per tool and repo (default 3)")
    p.add_argument(
        "--heavy-runs",
        type=int,
        default=1,
        help=f"runs for repos with >= {HEAVY_TENSORS:,} tensors (default 1)",
    )
    p.add_argument("--ranges-runs", type=int, default=1, help="runs of hubmem without the route (default 1)")
    p.add_argument("--repos", nargs="*", help="repo ids (default: every served real-model fixture)")
    p.add_argument("--all", action="store_true", help="include " + ", ".join(DUPLICATES))
    p.add_argument("--fixtures", type=Path, default=ROOT / "fixtures")
    p.add_argument("--regular-redirect", choices=("never", "always", "mix"), default="mix")
    p.add_argument(
        "--hf-mem-experimental",
        action="store_true",
        help="run hf-mem with experimental=True (KV cache: it then also reads config.json)",
    )
    p.add_argument("--json", type=Path, help="also dump every run as JSON here")
    p.add_argument("--from-json", type=Path, help="render a --json dump again instead of measuring")
    p.add_argument("--write", action="store_true", help=f"rewrite '{SECTION}' in {DOC.relative_to(ROOT)}")
    p.add_argument("-v", "--verbose", action="store_true", help="one progress line per repo on stderr")
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)

    repos = fixture_repos(args.fixtures)
    if not args.repos and not args.all:
        repos = [r for r in repos if r.repo_id not in DUPLICATES]
    if args.repos:
        wanted = set(args.repos)
        repos = [r for r in repos if r.repo_id in wanted]
        missing = wanted - {r.repo_id for r in repos}
        if missing:
            p.error(f"not served by the fixtures: {', '.join(sorted(missing))}")
    if args.from_json:
        bench = bench_from_json(json.loads(args.from_json.read_text()))
    else:
        with peers.isolated_hf_env():
            bench = run_bench(args, repos)
    text = render(bench, findings(bench))
    print(text)
    if args.json:
        args.json.write_text(json.dumps(bench_to_json(bench), indent=1))
    if args.write:
        results.write_section(DOC, "bench.repos", text, new_doc=DOC_INTRO)
        print(f"wrote '{SECTION}' in {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
