"""A whole ``hubmem DIR --json`` process on a local checkpoint against the floor process (issue #13).

    .venv/bin/python -m scripts.bench.process [--sizes 92000 500000] [--runs 3] [--write]

For each size: a local sharded checkpoint in a temporary folder, each file the 8-byte length, the header and
a sparse data region of the real size, with ``model.safetensors.index.json`` and DeepSeek-R1's config.json:
``r1`` is deepseek-ai/DeepSeek-R1 itself (its 163 real headers, 91,991 tensors, from ``fixtures/``); a number
is that many tensors of the synthetic headers of :mod:`scripts.bench.cpu` (1,000 per shard). The folder is
written by a separate process, so that the measured children (forked from this small process) start small.
Two processes read it, start-up included in both:

* the floor: reads each shard's first 8 + N bytes, ``json.loads`` the header, sums the offsets;
* hubmem: ``python -m hubmem DIR --json`` (the whole report: weights, KV cache, training, as a user runs it).

CPU seconds are the child's user + system time, the minimum over the runs; peak RSS is the child's
``ru_maxrss`` (both from ``os.wait4``, per child).
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
from scripts.results import BENCHMARKS, write_section

SECTION = "bench.process"
COMMAND = ".venv/bin/python -m scripts.bench.process --write"
CONFIG = ROOT / "fixtures/repos/deepseek-ai__DeepSeek-R1/files/config.json"

FLOOR = """
import json, pathlib, sys
total = 0
for p in sorted(pathlib.Path(sys.argv[1]).glob("*.safetensors")):
    with open(p, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        for k, v in json.loads(f.read(n)).items():
            if k != "__metadata__":
                total += v["data_offsets"][1] - v["data_offsets"][0]
print(total)
"""


def _shards(size: str) -> list[tuple[str, bytes]]:
    """(file name, header bytes) of each shard of checkpoint ``size``."""
    if size == "r1":
        from hubmem.fakehub.fixtures.layout import default_fixtures_dir
        from hubmem.fakehub.fixtures.store import FixtureStore

        repo = FixtureStore(default_fixtures_dir()).get("deepseek-ai/DeepSeek-R1")
        assert repo is not None, "the DeepSeek-R1 fixture is missing"
        return sorted((f.path, f.header_bytes) for f in repo.files.values() if f.header_bytes is not None)
    raw = _headers(int(size))
    return [(f"model-{i + 1:05d}-of-{len(raw):05d}.safetensors", r) for i, r in enumerate(raw)]


def write_checkpoint(folder: Path, size: str) -> int:
    """A local checkpoint in ``folder`` (sparse data regions); returns the data bytes."""
    weight_map: dict[str, str] = {}
    total = 0
    for name, raw in _shards(size):
        header = json.loads(raw)
        data = max(v["data_offsets"][1] for k, v in header.items() if k != "__metadata__")
        weight_map.update({k: name for k in header if k != "__metadata__"})
        with open(folder / name, "wb") as f:
            f.write(len(raw).to_bytes(8, "little") + raw)
            f.truncate(8 + len(raw) + data)  # sparse: the size is real, no data is written
        total += data
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    (folder / "config.json").write_text(CONFIG.read_text())
    return total


def _child(cmd: list[str]) -> tuple[float, float, str]:
    """(CPU seconds, peak RSS MiB, stdout) of one child process (its own rusage, from ``wait4``)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd[:3]} failed: {err.read().decode()[-500:]}")
        return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.read().decode()


def measure(size: str, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        made = [sys.executable, "-m", "scripts.bench.process", "--make", tmp, size]
        total = int(subprocess.run(made, capture_output=True, text=True, cwd=ROOT, check=True).stdout)
        index = json.loads(Path(tmp, "model.safetensors.index.json").read_text())
        floor = [_child([sys.executable, "-c", FLOOR, tmp]) for _ in range(runs)]
        assert int(floor[0][2]) == total
        hub = [_child([sys.executable, "-m", "hubmem", tmp, "--json"]) for _ in range(runs)]
        assert json.loads(hub[0][2])["weights"]["total_bytes"] == total
    return {
        "checkpoint": "deepseek-ai/DeepSeek-R1" if size == "r1" else "synthetic",
        "tensors": len(index["weight_map"]),
        "floor_cpu": min(c for c, _, _ in floor),
        "floor_rss": max(r for _, r, _ in floor),
        "hubmem_cpu": min(c for c, _, _ in hub),
        "hubmem_rss": max(r for _, r, _ in hub),
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
        print(write_checkpoint(Path(args.make[0]), args.make[1]))
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
