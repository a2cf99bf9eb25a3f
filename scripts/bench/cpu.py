"""CPU of one report, per stage, against the JSON-decoding floor (issue #13).

    .venv/bin/python -m scripts.bench.cpu [--sizes 1000 10000 92000 500000] [--runs 3] [--write]

For each size, in a fresh process: a synthetic checkpoint of that many tensors, named like DeepSeek-R1's
(the real fixture's 91,991 names, repeated with a prefix beyond that: experts of every layer, FP8 scales,
MTP layer), one file of headers per shard of 1,000 tensors. The floor is what any tool must do: `json.loads`
of the header bytes and summing the offsets. hubmem's stages: decoding and validating each header as it
arrives (`load_header`, what the fetch stage does), then, on the snapshot, the tensor table, the weights
section, the training preparation and projection, and the whole `build_report` (cyclic GC paused as hubmem
pauses it; the floor runs with the default GC). The ratio compares decode + validate + build_report with
the floor. CPU seconds are
`time.process_time`, the minimum over the runs (this machine is shared; the minimum is the least disturbed);
peak RSS is the process's `ru_maxrss` after everything.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from scripts import ROOT
from scripts.results import BENCHMARKS, write_section

SECTION = "bench.cpu"
COMMAND = ".venv/bin/python -m scripts.bench.cpu --write"
SHARD = 1000


def _names(n: int) -> list[str]:
    from hubmem.fakehub.fixtures.layout import default_fixtures_dir
    from hubmem.fakehub.fixtures.store import FixtureStore

    repo = FixtureStore(default_fixtures_dir()).get("deepseek-ai/DeepSeek-R1")
    assert repo is not None, "the DeepSeek-R1 fixture is missing"
    headers = [f.header_json() for f in repo.files.values() if f.header_file is not None]
    base = [name for h in headers if h for name in h if name != "__metadata__"]
    out = list(base)
    i = 0
    while len(out) < n:
        out += [f"copy{i}.{name}" for name in base]
        i += 1
    return out[:n]


def _headers(n: int) -> list[bytes]:
    """Header JSON of ``n`` tensors, 1,000 per file: FP8 weights with F32 scales, BF16 elsewhere."""
    names, out = _names(n), []
    for start in range(0, n, SHARD):
        header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
        offset = 0
        for name in names[start : start + SHARD]:
            fp8 = ("F8_E4M3", [256, 128], 32768)
            dtype, shape, size = ("F32", [4, 4], 64) if name.endswith("_inv") else fp8
            if not name.endswith("weight"):
                dtype, shape, size = "BF16", [128], 256
            header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
            offset += size
        out.append(json.dumps(header, separators=(",", ":")).encode())
    return out


def _floor(raw: list[bytes]) -> int:
    total = 0
    for r in raw:
        for key, value in json.loads(r).items():
            if key != "__metadata__":
                total += value["data_offsets"][1] - value["data_offsets"][0]
    return total


def _cpu(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.process_time()
        result = fn()
        best = min(best, time.process_time() - start)
    return best, result


def measure(n: int, runs: int) -> dict[str, Any]:
    """One size, in this process."""
    import gc

    from hubmem.estimate.table import tensor_table
    from hubmem.estimate.training.prepare import prepare_training
    from hubmem.estimate.training.report import plan_training, project_training
    from hubmem.estimate.weights.report import estimate_weights
    from hubmem.formats.safetensors_load import load_header
    from hubmem.parse.config import parse_config
    from hubmem.pipeline import build_report, parse_snapshot_tensors
    from hubmem.schema.options import Options
    from hubmem.snapshot import Snapshot, WeightFile

    raw = _headers(n)
    out: dict[str, Any] = {"tensors": n}
    out["floor"], _ = _cpu(lambda: _floor(raw), runs)
    out["decode+validate"], headers = _cpu(lambda: [load_header(r) for r in raw], runs)
    files = [
        WeightFile(f"model-{i:05d}.safetensors", len(r), h)
        for i, (r, h) in enumerate(zip(raw, headers, strict=True))
    ]
    config = json.loads((ROOT / "fixtures/repos/deepseek-ai__DeepSeek-R1/files/config.json").read_text())
    snap = Snapshot("bench/r1", "main", None, "local", config=config, files=files)
    gc.disable()
    try:
        tensors = parse_snapshot_tensors(snap)
        arch = parse_config(config, tensors=tensors)
        out["table"], table = _cpu(lambda: tensor_table(tensors), runs)
        out["weights"], weights = _cpu(lambda: estimate_weights(snap, tensors, arch, table), runs)
        out["training prepare"], prepared = _cpu(
            lambda: prepare_training(weights, tensors, arch, table), runs
        )
        out["training plan+project"], _ = _cpu(
            lambda: project_training(plan_training(prepared, Options().training)), runs
        )
    finally:
        gc.enable()
    out["build_report"], _ = _cpu(lambda: build_report(snap, Options()), runs)
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _row(r: dict[str, Any]) -> str:
    stages = ["decode+validate", "table", "weights", "training prepare", "training plan+project"]
    cells = [f"{r['tensors']:,}", f"{r['floor']:.3f}"]
    cells += [f"{r[s]:.3f}" for s in stages]
    cells += [
        f"{r['build_report']:.3f}",
        f"{(r['decode+validate'] + r['build_report']) / r['floor']:.1f}x",
        f"{r['peak_rss_mib']:.0f}",
    ]
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--sizes", type=int, nargs="*", default=[1000, 10000, 92000, 500000])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child process: one size, JSON out
    p.add_argument("--write", action="store_true", help="update scripts/BENCHMARKS.md")
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, args.runs)))
        return 0
    rows = []
    for n in args.sizes:
        cmd = [sys.executable, "-m", "scripts.bench.cpu", "--one", str(n), "--runs", str(args.runs)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(_row(rows[-1]), flush=True)
    head = (
        "| tensors | floor (json.loads + sum) | decode + validate | table | weights | training prepare | "
        "training plan+project | build_report | (decode + validate + build_report) / floor | peak RSS MiB |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    body = f"Command: `{COMMAND}` (CPU seconds, minimum of {args.runs} runs)\n\n" + head + "\n"
    body += "\n".join(_row(r) for r in rows) + "\n"
    if args.write:
        write_section(BENCHMARKS, SECTION, "## Report CPU per stage (issue #13)\n\n" + body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
