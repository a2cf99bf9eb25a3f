"""Per-repo fetch cost: hubmem vs huggingface_hub's get_safetensors_metadata vs hf-mem 0.5.6, side by side,
against the fake Hub (in this process, in a thread) with injected latency on both origins.

    .venv/bin/python scripts/bench_repos.py                    # every real fixture repo, 3 cold runs each
    .venv/bin/python scripts/bench_repos.py --latency 0.1 --runs 5 --repos Qwen/Qwen3-8B openai/gpt-oss-20b
    .venv/bin/python scripts/bench_repos.py --write            # also rewrite the "Per-repo fetch cost"
                                                               # section of scripts/BENCHMARKS.md

Per repo and tool it records, from the fake Hub's request log (not from the tools' own accounting):
requests per origin (hub + cdn), body bytes the server sent (both origins), and round trips: the longest
chain of requests in which each one arrived after the previous one had been answered (dependent requests
and waves forced by a concurrency limit both count). Plus the wall time of the call (median of the runs)
and the weight bytes / element count each tool computed, so the answers can be compared. Every run is
cold (scripts/peers.py). Repos: every served real-model fixture, plus hubmem-test/header-99995 as a
correctness row (a 99,995-byte header: hf-mem 0.5.6's boundary bug). Gated repos get the fixtures'
reader token, for every tool. "hubmem (ranges)" is hubmem with the safetensors-metadata route turned off
(``HubClient(use_metadata_route=False)``), measured on sharded repos only (single files never use it).
"""

from __future__ import annotations

import argparse
import datetime as dt
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

ROOT = Path(__file__).resolve().parents[1]
for _p in (str(ROOT), str(ROOT / "scripts")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import peers  # noqa: E402  (scripts/peers.py)

DOC = ROOT / "scripts" / "BENCHMARKS.md"
SECTION = "## Per-repo fetch cost"
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


def measure(hub: Any, tool: str, repo: Repo, token: str | None, settle: float) -> Run:
    hub.log.reset()
    result = peers.TOOLS[tool](repo.repo_id, endpoint=hub.endpoint, token=token)
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
    from hubmem.fakehub import READER_TOKEN, FaultConfig, run_in_thread

    faults = FaultConfig(latency=args.latency, cdn_latency=args.cdn_latency)
    cells: dict[str, dict[str, Cell]] = {r.repo_id: {} for r in repos}
    started = time.perf_counter()
    load_before = os.getloadavg()
    with run_in_thread(args.fixtures, faults=faults, regular_redirect=args.regular_redirect) as hub:
        settle = max(args.latency, args.cdn_latency or 0.0) + 0.05
        warm = next((r for r in repos if r.repo_id == WARMUP_REPO), repos[0])
        for tool in TOOLS:  # imports, first connections, pydantic schema builds: not measured
            peers.TOOLS[tool](warm.repo_id, endpoint=hub.endpoint, token=READER_TOKEN if warm.gated else None)
        for repo in repos:
            token = READER_TOKEN if repo.gated else None
            tools = [t for t in TOOLS if t != "hubmem-ranges" or repo.sharded]
            for _ in range(args.heavy_runs if repo.heavy else args.runs):
                for tool in tools:
                    run = measure(hub, tool, repo, token, settle)
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
        "load": (load_before, os.getloadavg()),
        "regular_redirect": args.regular_redirect,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "versions": versions(),
        "command": " ".join(["scripts/bench_repos.py", *args.argv]),
    }
    return Bench(repos, cells, settings)


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
    for dist in ("hubmem", "huggingface_hub", "hf-mem", "httpx", "httpx2", "aiohttp"):
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


def summary_table(bench: Bench) -> list[str]:
    single = [r for r in bench.repos if not r.sharded]
    sharded = [r for r in bench.repos if r.sharded]
    lines = [
        "| ratio (geometric mean over repos) | repos | requests | round trips | bytes sent | wall time "
        "| fetch-stage wall time |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    rows: list[tuple[str, str, str, list[Repo]]] = []
    for peer in PEERS:
        for label, group in (("all", bench.repos), ("single file", single), ("sharded", sharded)):
            rows.append((peer, "hubmem", label, group))
    for peer in PEERS:
        rows.append((peer, "hubmem-ranges", "sharded", sharded))
    rows.append(("hubmem-ranges", "hubmem", "sharded", sharded))
    for num, den, label, group in rows:
        pairs = _both_ok(bench, num, den, group)
        if not pairs:
            continue
        g: list[float | None] = [
            geomean(a.requests / b.requests for a, b in pairs),
            geomean(a.round_trips / b.round_trips for a, b in pairs),
            geomean(a.nbytes / b.nbytes for a, b in pairs),
            geomean(a.ms / b.ms for a, b in pairs),
            geomean(a.fetch_ms / b.fetch_ms for a, b in pairs),
        ]
        lines.append(
            f"| {SHORT[num]} / {SHORT[den]}, {label} | {len(pairs)} | "
            + " | ".join(fmt_ratio(x) for x in g)
            + " |"
        )
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
Command: `.venv/bin/python {command}` (it wrote this section with `--write`). Date: {date}.
Machine: {machine}; load average (1/5/15 min) {load0} at the start, {load1} at the end: other work
shared the machine, so wall times are noisy; requests, bytes and round trips are not.
Whole run: {elapsed_s} s.

Fake Hub: `hubmem.fakehub.run_in_thread` (same process, own thread and event loop) over `fixtures/`,
{latency_ms:.0f} ms injected latency per request on the Hub origin and {cdn_latency_ms:.0f} ms on the CDN
origin; regular files answered `{regular_redirect}` (some straight, some with a 307 to
`/api/resolve-cache`, as the real Hub does). Tools: hubmem {v_hubmem} (httpx {v_httpx});
huggingface_hub {v_hf_hub} `HfApi(endpoint=..., token=...).get_safetensors_metadata(repo)`; hf-mem {v_hf_mem}
`hf_mem.run.arun(repo, hf_token=...)` (httpx2 {v_httpx2}). {runs} cold runs per tool and repo
({heavy_runs} for the CPU-bound repos with at least {heavy:,} tensors, marked n={heavy_runs}), tools
interleaved. Wall time is the median of the runs; requests and bytes come from the fake Hub's request log
(median run; identical across runs unless a note says otherwise). hubmem's wall time is the whole
`analyze_async` equivalent (fetch + parse + every estimate: weights, KV cache, training); its fetch stage
alone is in parentheses. {skipped}

How the tools are run (`scripts/peers.py`, reusable by other benchmarks):

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
        v_httpx=v["httpx"],
        v_hf_hub=v["huggingface_hub"],
        v_hf_mem=v["hf-mem"],
        v_httpx2=v["httpx2"],
        runs=s["runs"],
        heavy_runs=s["heavy_runs"],
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


FINDINGS = """
(Run `scripts/bench_repos.py --write` to fill this section; findings are kept in scripts/bench_repos.py.)
"""


def write_section(text: str, doc: Path = DOC) -> None:
    """Replace (or append) the section starting at ``SECTION`` up to the next ``## `` heading; the file is
    re-read right before writing, other sections are left as they are."""
    current = doc.read_text() if doc.exists() else DOC_INTRO
    lines = current.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == SECTION), None)
    if start is None:
        new = current.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        new = "\n".join([*lines[:start], *text.rstrip("\n").splitlines(), *([""] if end < len(lines) else []),
                         *lines[end:]]) + "\n"  # fmt: skip
    doc.write_text(new)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
    p.add_argument("--repos", nargs="*", help="repo ids (default: every served real-model fixture)")
    p.add_argument("--all", action="store_true", help="include " + ", ".join(DUPLICATES))
    p.add_argument("--fixtures", type=Path, default=ROOT / "fixtures")
    p.add_argument("--regular-redirect", choices=("never", "always", "mix"), default="mix")
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
    text = render(bench, FINDINGS)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(bench_to_json(bench), indent=1))
    if args.write:
        write_section(text)
        print(f"wrote '{SECTION}' in {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
