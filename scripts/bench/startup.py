"""Start-up and whole-process cost (issue #13): ``hubmem --help``, and ``hubmem DIR --json`` on a local
92k-tensor checkpoint against a process that only json-decodes its headers and sums the offsets.

    .venv/bin/python -m scripts.bench.startup [--runs 5]

The checkpoint is DeepSeek-R1's fixture (163 shards, 91,991 tensors) written as a local folder: its real
config.json, its index, and each shard as a sparse file (8-byte N, the header, then a hole up to the file's
real size), so hubmem reads it like a downloaded checkpoint. Each command runs ``--runs`` times, interleaved
with the others; CPU seconds (user + sys of the child, from ``wait4``) and wall time, the minimum and the
median of the runs (the machine is shared). Start-up is included in every figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from scripts import ROOT

REPO = "deepseek-ai/DeepSeek-R1"
FLOOR = """
import json, struct, sys, pathlib
total = 0
for p in sorted(pathlib.Path(sys.argv[1]).glob("*.safetensors")):
    with open(p, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    total += sum(v["data_offsets"][1] - v["data_offsets"][0] for k, v in header.items() if k[0] != "_")
print(total)
"""


def build_checkpoint(folder: Path) -> int:
    """DeepSeek-R1's fixture as a local folder; returns the number of tensors."""
    from hubmem.fakehub.fixtures.layout import default_fixtures_dir
    from hubmem.fakehub.fixtures.store import FixtureStore

    repo = FixtureStore(default_fixtures_dir()).get(REPO)
    assert repo is not None, "the DeepSeek-R1 fixture is missing"
    tensors = 0
    for path, f in repo.files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if f.header_file is None:
            target.write_bytes(f.content.read())
            continue
        header, decoded = f.header_bytes, f.header_json()
        assert header is not None and decoded is not None
        tensors += sum(1 for k in decoded if k != "__metadata__")
        with open(target, "wb") as out:
            out.write(struct.pack("<Q", len(header)) + header)
            out.truncate(f.size)
    return tensors


class Child(NamedTuple):
    wall: float  # seconds
    cpu: float  # user + system seconds
    rss_mib: float  # peak resident set
    stdout: str


# The children run as an installed copy does: with bytecode. pip compiles every module when it installs a
# package, and Python writes the .pyc of an editable install on its first import (each benchmark's unmeasured
# first run). PYTHONDONTWRITEBYTECODE, which some sandboxes set, would have every child compile hubmem's
# modules from source, about 0.07 s a process that no installed copy pays (the floor's stdlib has its .pyc).
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(cmd: list[str]) -> Child:
    """One child process, its own rusage from ``wait4`` (not the parent's, not other children's)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT, env=CHILD_ENV)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: exit {proc.returncode}: {err.read().decode()[-400:]}")
        return Child(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.read().decode())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scripts.bench.startup", description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    python = sys.executable
    hubmem = str(Path(python).with_name("hubmem"))
    with tempfile.TemporaryDirectory(prefix="startup-") as tmp:
        folder = Path(tmp) / "DeepSeek-R1"
        tensors = build_checkpoint(folder)
        commands = {
            "python -c pass": [python, "-c", "pass"],
            "hubmem --help": [hubmem, "--help"],
            "floor: json.loads + sum offsets": [python, "-c", FLOOR, str(folder)],
            "hubmem DIR --json": [hubmem, str(folder), "--json"],
        }
        print(f"{tensors:,} tensors, load {os.getloadavg()[0]:.1f}", flush=True)
        for cmd in commands.values():  # warm the page cache and the .pyc files
            run(cmd)
        times: dict[str, list[Child]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                times[name].append(run(cmd))
    print(f"{'command':<34}{'CPU min':>9}{'CPU med':>9}{'wall min':>10}{'wall med':>10}")
    for name, rows in times.items():
        cpu, wall = [r.cpu for r in rows], [r.wall for r in rows]
        print(f"{name:<34}{min(cpu):9.3f}{statistics.median(cpu):9.3f}{min(wall):10.3f}"
              f"{statistics.median(wall):10.3f}")  # fmt: skip
    floor = min(r.cpu for r in times["floor: json.loads + sum offsets"])
    whole = min(r.cpu for r in times["hubmem DIR --json"])
    print(f"hubmem DIR --json / floor (CPU, min of runs): {whole / floor:.2f}x")
    print(f"load {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
