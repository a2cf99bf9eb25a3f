"""python -m hubmem.fakehub --fixtures fixtures --port 8000 [--latency 0.05] [--fault-429-every N ...]

Every fault option can also come from the environment (HUBMEM_FAKEHUB_<FIELD>, e.g.
HUBMEM_FAKEHUB_LATENCY=0.05, HUBMEM_FAKEHUB_ERROR_EVERY=10); command-line options win.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import Sequence

from hubmem.fakehub.faults import FaultConfig
from hubmem.fakehub.fixtures.layout import READER_TOKEN, default_fixtures_dir
from hubmem.fakehub.server import FakeHub


def _csv_ints(value: str) -> tuple[int, ...]:
    return tuple(int(v) for v in value.split(",") if v.strip())


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hubmem.fakehub", description="Serve fixtures/ like the HF Hub."
    )
    p.add_argument(
        "--fixtures", default=None, help="fixtures dir (default: $HUBMEM_FIXTURES or <repo>/fixtures)"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="Hub origin port (0 = any free port)")
    p.add_argument("--cdn-port", type=int, default=None, help="CDN origin port (default: port+1, or free)")
    p.add_argument("--regular-redirect", choices=["never", "always", "mix"], default="mix")
    p.add_argument("--tree-page-size", type=int, default=1000)
    p.add_argument("--tree-expand-page-size", type=int, default=50)
    f = p.add_argument_group("faults (deterministic given --seed)")
    f.add_argument("--seed", type=int, default=None)
    f.add_argument(
        "--latency", type=float, default=None, help="seconds added to every request (both origins)"
    )
    f.add_argument("--cdn-latency", type=float, default=None, help="CDN latency, if different")
    f.add_argument("--fault-429-every", dest="rate_limit_every", type=int, default=None)
    f.add_argument("--fault-429-prob", dest="rate_limit_prob", type=float, default=None)
    f.add_argument(
        "--fault-429-buckets", dest="rate_limit_buckets", type=_csv, default=None, help="api,resolvers"
    )
    f.add_argument(
        "--fault-429-reset", dest="rate_limit_reset", type=int, default=None, help="t= and Retry-After"
    )
    f.add_argument("--enforce-quota", dest="enforce_quota", action="store_true", default=None)
    f.add_argument("--fault-5xx-every", dest="error_every", type=int, default=None)
    f.add_argument("--fault-5xx-prob", dest="error_prob", type=float, default=None)
    f.add_argument(
        "--fault-5xx-statuses", dest="error_statuses", type=_csv_ints, default=None, help="500,502,503"
    )
    f.add_argument("--fault-drop-every", dest="drop_every", type=int, default=None)
    f.add_argument("--fault-drop-prob", dest="drop_prob", type=float, default=None)
    f.add_argument("--slow-body-delay", dest="slow_body_delay", type=float, default=None)
    f.add_argument("--slow-body-chunk", dest="slow_body_chunk", type=int, default=None)
    f.add_argument("--fault-origins", dest="origins", type=_csv, default=None, help="hub,cdn")
    f.add_argument("--fault-match", dest="match", default=None, help="regex on path?query")
    p.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return p


FAULT_ARGS = [
    "seed",
    "latency",
    "cdn_latency",
    "rate_limit_every",
    "rate_limit_prob",
    "rate_limit_buckets",
    "rate_limit_reset",
    "enforce_quota",
    "error_every",
    "error_prob",
    "error_statuses",
    "drop_every",
    "drop_prob",
    "slow_body_delay",
    "slow_body_chunk",
    "origins",
    "match",
]


async def serve(args: argparse.Namespace) -> None:
    faults = FaultConfig.from_env(**{k: getattr(args, k) for k in FAULT_ARGS})
    hub = FakeHub(
        args.fixtures or default_fixtures_dir(),
        faults=faults,
        regular_redirect=args.regular_redirect,
        tree_page_size=args.tree_page_size,
        tree_expand_page_size=args.tree_expand_page_size,
    )
    cdn_port = args.cdn_port if args.cdn_port is not None else (args.port + 1 if args.port else 0)
    await hub.start(args.host, args.port, cdn_port)
    print(f"fakehub: {len(hub.store.repos)} repos from {hub.fixtures_dir}", flush=True)
    print(
        f"  HF_ENDPOINT={hub.endpoint}   (CDN {hub.cdn_url}; token with gated access: {READER_TOKEN})",
        flush=True,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await hub.stop()


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    if args.verbose:
        logging.getLogger("hubmem.fakehub").setLevel(logging.DEBUG)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
