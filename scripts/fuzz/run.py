"""The long fuzz run: N inputs per target, in-process, each under a watchdog.

    nice -n 10 .venv/bin/python -m scripts.fuzz --header 1000000 --config 50000 --gguf 100000 \\
        --cache 20000 --service 50000 --seed 1 --out /tmp/fuzz-failures

A *crash* is an exception that is not a ``HubmemError`` (a target's own assertion included), a *hang* an
input that runs longer than ``--timeout`` seconds (SIGALRM interrupts it), *memory* the process's peak RSS
passing ``--max-rss-mb`` (the input that pushed it over is kept, and that target stops). Every failing
input is saved under ``--out`` (its bytes, and a .txt with the target's keyword arguments and the
traceback), at most three per distinct failure (exception type and the innermost hubmem frame). The exit
status is 1 when anything failed. ``--replay FILE --target T`` runs one saved input again, traceback
shown. Results of the last runs: scripts/FUZZING.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from scripts.fuzz import targets
from scripts.fuzz.inputs import MAKERS

Target = Callable[[bytes, dict[str, Any]], None]


class Hang(BaseException):
    """Raised by the watchdog in the input that ran too long (a BaseException: no ``except Exception``
    in the code under test swallows it)."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang


def target_calls(folder: Path) -> dict[str, Target]:
    return {
        "header": lambda raw, kw: targets.header(raw, **kw),
        "config": lambda raw, kw: targets.report(raw, **kw),
        "gguf": lambda raw, kw: targets.gguf_header(raw, **kw),
        "cache": lambda raw, kw: targets.cache_entry(folder, raw),
        "service": lambda raw, kw: targets.service_request(kw["query"], raw),
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


@dataclass
class Tally:
    name: str
    inputs: int = 0
    seconds: float = 0.0
    failures: Counter[str] = field(default_factory=Counter)  # "crash: signature" -> count

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def line(self) -> str:
        rate = self.inputs / self.seconds if self.seconds else 0.0
        return (
            f"{self.name:8} {self.inputs:>10,} inputs  {self.failed:>5,} failures  "
            f"{self.seconds:8.1f} s  {rate:9,.0f} inputs/s  peak RSS {peak_rss_mb():,.0f} MB"
        )


def signature(exc: BaseException) -> str:
    """The exception type and the innermost frame in hubmem (or the innermost at all)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/hubmem/" in f.filename] or frames
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    return f"{type(exc).__name__} at {where}"


@dataclass
class Runner:
    out: Path
    timeout: float
    max_rss_mb: float
    calls: dict[str, Target]
    saved: Counter[str] = field(default_factory=Counter)

    def save(self, tally: Tally, kind: str, raw: bytes, kw: dict[str, Any], text: str, sig: str) -> None:
        tally.failures[f"{kind}: {sig}"] += 1
        key = f"{tally.name}-{kind}-{hashlib.sha1(sig.encode()).hexdigest()[:10]}"
        if self.saved[key] >= 3:
            return
        self.saved[key] += 1
        self.out.mkdir(parents=True, exist_ok=True)
        stem = self.out / f"{key}-{self.saved[key]}"
        stem.with_suffix(".bin").write_bytes(raw)
        stem.with_suffix(".txt").write_text(f"{sig}\nkwargs: {json.dumps(kw, default=repr)[:2000]}\n\n{text}")

    def one(self, tally: Tally, raw: bytes, kw: dict[str, Any]) -> bool:
        """Run one input; False when the run of this target must stop (memory)."""
        signal.setitimer(signal.ITIMER_REAL, self.timeout)
        try:
            self.calls[tally.name](raw, kw)
        except Hang as exc:
            self.save(tally, "hang", raw, kw, traceback.format_exc(), signature(exc))
        except Exception as exc:  # HubmemError is handled inside the targets: anything here is a crash
            self.save(tally, "crash", raw, kw, traceback.format_exc(), signature(exc))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if peak_rss_mb() > self.max_rss_mb:
            self.save(tally, "memory", raw, kw, f"peak RSS {peak_rss_mb():,.0f} MB", "rss")
            return False
        return True

    def drive(self, name: str, n: int, seed: int, progress: int) -> Tally:
        rng = random.Random(f"{seed}:{name}")
        make = MAKERS[name]
        tally = Tally(name)
        start = time.perf_counter()
        for i in range(n):
            raw, kw = make(rng, i)
            tally.inputs += 1
            if not self.one(tally, raw, kw):
                break
            if progress and tally.inputs % progress == 0:
                tally.seconds = time.perf_counter() - start
                print(tally.line(), file=sys.stderr, flush=True)
        tally.seconds = time.perf_counter() - start
        if progress:
            print(tally.line(), file=sys.stderr, flush=True)
        return tally


def replay(path: Path, name: str, calls: dict[str, Target]) -> int:
    kw_line = (
        path.with_suffix(".txt").read_text().splitlines()[1] if path.with_suffix(".txt").exists() else ""
    )
    kw = json.loads(kw_line.removeprefix("kwargs: ")) if kw_line.startswith("kwargs: ") else {}
    calls[name](path.read_bytes(), kw)
    print("no failure")
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m scripts.fuzz", description=__doc__.split("\n\n")[0])
    for name in MAKERS:
        ap.add_argument(f"--{name}", type=int, default=0, metavar="N", help=f"{name} inputs to run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("fuzz-failures"))
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds an input may take")
    ap.add_argument("--max-rss-mb", type=float, default=1024.0)
    ap.add_argument("--progress", type=int, default=0, metavar="K", help="print a line every K inputs")
    ap.add_argument("--replay", type=Path, help="run one saved input again")
    ap.add_argument("--target", choices=sorted(MAKERS), help="the target of --replay")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        return _run(args)
    finally:
        signal.signal(signal.SIGALRM, previous)


def _run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="hubmem-fuzz-cache-") as folder:
        calls = target_calls(Path(folder))
        if args.replay is not None:
            return replay(args.replay, args.target or "header", calls)
        runner = Runner(args.out, args.timeout, args.max_rss_mb, calls)
        print(
            f"python -m scripts.fuzz seed {args.seed}, timeout {args.timeout} s, max RSS {args.max_rss_mb} MB"
        )
        tallies = [
            runner.drive(n, getattr(args, n), args.seed, args.progress) for n in MAKERS if getattr(args, n)
        ]
    for tally in tallies:
        print(tally.line())
        for what, count in tally.failures.most_common():
            print(f"    {count:>7,}  {what}")
    failed = sum(t.failed for t in tallies)
    print(
        f"{sum(t.inputs for t in tallies):,} inputs, {failed:,} failures"
        + (f", saved in {args.out}" if failed else "")
    )
    return 1 if failed else 0
