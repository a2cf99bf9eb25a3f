"""A whole ``hubmem DIR --json`` process on a local checkpoint against the floor process (issue #13).

    .venv/bin/python -m scripts.bench.process [--sizes 92000 500000] [--runs 3] [--write]

For each size: a local sharded checkpoint in a temporary folder, each file the 8-byte length, the header and
a sparse data region of the real size, with ``model.safetensors.index.json`` and DeepSeek-R1's config.json:
``r1`` is deepseek-ai/DeepSeek-R1 itself (its 163 real headers, 91,991 tensors: the folder
:func:`scripts.bench.startup.build_checkpoint` writes); a number is that many tensors of the synthetic
headers of :mod:`scripts.bench.cpu` (1,000 per shard). The folder is written by a separate process, so that
the measured children (forked from this small process) start small. Two processes read it, start-up
included in both (:mod:`scripts.bench.startup`'s floor and child runner):

* the floor: reads each shard's first 8 + N bytes, ``json.loads`` the header, sums the offsets;
* hubmem: ``python -m hubmem DIR --json`` (the whole report: weights, KV cache, training, as a user runs it).

The two run in turn after one unmeasured run each; CPU seconds are the child's user + system time, the
minimum over the runs; peak RSS is the child's ``ru_maxrss`` (both from ``os.wait4``, per child). Both must
agree on the total bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from scripts import ROOT
from scripts.bench.cpu import _headers
from scripts.bench.startup import FLOOR, Child, build_checkpoint, run
from scripts.results import BENCHMARKS, write_section

SECTION = "bench.process"
COMMAND = ".venv/bin/python -m scripts.bench.process --write"
CONFIG = ROOT / "fixtures/repos/deepseek-ai__DeepSeek-R1/files/config.json"


def write_synthetic(folder: Path, n: int) -> None:
    """A local checkpoint of ``n`` synthetic tensors in ``folder`` (sparse data regions, an index and
    DeepSeek-R1's config.json)."""
    raw = _headers(n)
    weight_map: dict[str, str] = {}
    for i, header_bytes in enumerate(raw):
        name = f"model-{i + 1:05d}-of-{len(raw):05d}.safetensors"
        header = json.loads(header_bytes)
        data = max(v["data_offsets"][1] for k, v in header.items() if k != "__metadata__")
        weight_map.update({k: name for k in header if k != "__metadata__"})
        with open(folder / name, "wb") as f:
            f.write(len(header_bytes).to_bytes(8, "little") + header_bytes)
            f.truncate(8 + len(header_bytes) + data)  # sparse: the size is real, no data is written
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    (folder / "config.json").write_text(CONFIG.read_text())


def measure(size: str, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        made = [sys.executable, "-m", "scripts.bench.process", "--make", tmp, size]
        subprocess.run(made, capture_output=True, text=True, cwd=ROOT, check=True)
        index = json.loads(Path(tmp, "model.safetensors.index.json").read_text())
        floor_cmd = [sys.executable, "-c", FLOOR, tmp]
        hub_cmd = [sys.executable, "-m", "hubmem", tmp, "--json"]
        run(floor_cmd)  # unmeasured: the .pyc files written, the page cache warm
        run(hub_cmd)
        floor: list[Child] = []
        hub: list[Child] = []
        for _ in range(runs):  # interleaved: the load of a shared machine weighs on both alike
            floor.append(run(floor_cmd))
            hub.append(run(hub_cmd))
        assert json.loads(hub[0].stdout)["weights"]["total_bytes"] == int(floor[0].stdout)
    return {
        "checkpoint": "deepseek-ai/DeepSeek-R1" if size == "r1" else "synthetic",
        "tensors": len(index["weight_map"]),
        "floor_cpu": min(c.cpu for c in floor),
        "floor_rss": max(c.rss_mib for c in floor),
        "hubmem_cpu": min(c.cpu for c in hub),
        "hubmem_rss": max(c.rss_mib for c in hub),
    }


def _row(r: dict[str, Any]) -> str:
    cells = [
        r["checkpoint"],
        f"{r['tensors']:,}",
        f"{r['floor_cpu']:.2f}",
        f"{r['hubmem_cpu']:.2f}",
        f"{r['hubmem_cpu'] / r['floor_cpu']:.1f}x",
        f"{r['floor_rss']:.0f}",
        f"{r['hubmem_rss']:.0f}",
    ]
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--sizes", nargs="*", default=["1000", "r1", "500000"], help="r1 or a tensor count")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--write", action="store_true", help="update scripts/BENCHMARKS.md")
    p.add_argument("--make", nargs=2, metavar=("DIR", "SIZE"), help=argparse.SUPPRESS)  # child: the folder
    args = p.parse_args(argv)
    if args.make:
        folder, size = Path(args.make[0]), args.make[1]
        build_checkpoint(folder) if size == "r1" else write_synthetic(folder, int(size))
        return 0
    rows = []
    for size in args.sizes:
        rows.append(measure(size, args.runs))
        print(_row(rows[-1]), flush=True)
    head = (
        "| checkpoint | tensors | floor process CPU s | `hubmem DIR --json` CPU s | ratio | "
        "floor peak RSS MiB | hubmem peak RSS MiB |\n|---|---:|---:|---:|---:|---:|---:|"
    )
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    body = (
        f"Command: `{COMMAND}` (CPU seconds of the child process, user + system, minimum of {args.runs} "
        f"runs; load average {load} at the end)\n\n{head}\n" + "\n".join(_row(r) for r in rows) + "\n"
    )
    if args.write:
        write_section(BENCHMARKS, SECTION, "## Whole process on a local checkpoint (issue #13)\n\n" + body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
