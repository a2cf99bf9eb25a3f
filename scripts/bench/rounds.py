"""Fetch rounds of a pinned 191-shard checkpoint, and the HTTP client's CPU per request (issue #13).

    .venv/bin/python -m scripts.bench.rounds                      # both parts, 50 ms latency, 3 runs
    .venv/bin/python -m scripts.bench.rounds --part rounds --runs 5
    .venv/bin/python -m scripts.bench.rounds --part cpu --requests 2000

``rounds``: a Llama-3.1-405B-shaped repo (126 layers, 191 bf16 shards, the real config.json; headers
synthesised here, in a temporary fixtures folder) read at its pinned sha, so every shard header is a range
read (the Hub's 302, then one CDN read), against the fake Hub in a child process with ``--latency`` per
response on both origins. Tools in the same run, alternating: hubmem (``fetch_snapshot`` with a fresh
``HubClient``, default concurrency) and huggingface_hub's ``HfApi.get_safetensors_metadata(revision=sha)``
(cold: new session, empty cache). The fake Hub counts requests and client connections per origin (distinct
peer addresses). Reported: wall time (median), client CPU (this process), requests, connections.

``cpu``: the client CPU of one request, latency 0: ``--requests`` range reads of a one-tensor header through
the 302 (two exchanges each), 16 at a time, by hubmem's ``HubClient.read_header`` (over httpx2) and plain
``httpx2`` (``AsyncClient(follow_redirects=True)`` + ``Range``). CPU seconds of this process / exchanges.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_DISABLE_XET", "1")  # the fake Hub does not speak Xet (read at import)
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from scripts.bench.scan import HubProcess

REPO = "meta-llama/Llama-3.1-405B"
SHA = "405b" * 10
SHARDS = 191
CONFIG = {
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 128000, "eos_token_id": 128001, "hidden_act": "silu", "hidden_size": 16384,
    "initializer_range": 0.02, "intermediate_size": 53248, "max_position_embeddings": 131072,
    "mlp_bias": False, "model_type": "llama", "num_attention_heads": 128, "num_hidden_layers": 126,
    "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "transformers_version": "4.42.3", "use_cache": True, "vocab_size": 128256,
}  # fmt: skip
SMALL = "bench/one-tensor"


def _tensors() -> list[tuple[str, list[int]]]:
    h, kv, ff, v = 16384, 1024, 53248, 128256
    out = [("model.embed_tokens.weight", [v, h])]
    for i in range(126):
        p = f"model.layers.{i}."
        out += [(p + "input_layernorm.weight", [h]), (p + "self_attn.q_proj.weight", [h, h]),
                (p + "self_attn.k_proj.weight", [kv, h]), (p + "self_attn.v_proj.weight", [kv, h]),
                (p + "self_attn.o_proj.weight", [h, h]), (p + "post_attention_layernorm.weight", [h]),
                (p + "mlp.gate_proj.weight", [ff, h]), (p + "mlp.up_proj.weight", [ff, h]),
                (p + "mlp.down_proj.weight", [h, ff])]  # fmt: skip
    return [*out, ("model.norm.weight", [h]), ("lm_head.weight", [v, h])]


def _header(tensors: list[tuple[str, list[int]]]) -> tuple[bytes, int]:
    """Safetensors header bytes (compact JSON, spaces to a multiple of 8) and the data size."""
    entries: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in tensors:
        n = 2
        for d in shape:
            n *= d
        entries[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(entries, separators=(",", ":")).encode()
    return raw + b" " * (-len(raw) % 8), offset


def build_fixtures(root: Path) -> Path:
    """tokens.json + the 405B-shaped repo (191 shards) + a one-tensor repo, under ``root``."""
    from hubmem.fakehub.fixtures.layout import RepoWriter, write_tokens

    write_tokens(root)
    tensors = _tensors()
    n = len(tensors)
    groups = [tensors[i * n // SHARDS : (i + 1) * n // SHARDS] for i in range(SHARDS)]
    w = RepoWriter(root, REPO, sha=SHA)
    w.add_json("config.json", CONFIG)
    weight_map: dict[str, str] = {}
    total = 0
    for i, group in enumerate(groups, start=1):
        name = f"model-{i:05d}-of-{SHARDS:05d}.safetensors"
        header, data = _header(group)
        w.add_header(name, header, size=8 + len(header) + data)
        weight_map.update(dict.fromkeys((t for t, _ in group), name))
        total += data
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    w.add_json("model.safetensors.index.json", index)
    w.write()
    header, data = _header([("w", [4, 4])])
    small = RepoWriter(root, SMALL, sha="5" * 40)
    small.add_json("config.json", {"model_type": "llama"})
    small.add_header("model.safetensors", header, size=8 + len(header) + data)
    small.write()
    return root


# -- rounds -------------------------------------------------------------------------------------------------


def run_hubmem(endpoint: str) -> int:
    from hubmem.fetch.http.client import HubClient
    from hubmem.fetch.hub import fetch_snapshot

    async def go() -> int:
        async with HubClient(endpoint=endpoint, token=False) as client:
            snapshot = await fetch_snapshot(client, REPO, revision=SHA)
        return len(snapshot.files)

    return asyncio.run(go())


def run_hf_hub(endpoint: str) -> int:
    from huggingface_hub import HfApi, constants
    from huggingface_hub.utils import close_session

    close_session()
    with tempfile.TemporaryDirectory(prefix="rounds-hf-cache-") as cache:
        saved, constants.HF_HUB_CACHE = constants.HF_HUB_CACHE, cache
        try:
            meta = HfApi(endpoint=endpoint, token=False).get_safetensors_metadata(REPO, revision=SHA)
        finally:
            constants.HF_HUB_CACHE = saved
    close_session()
    return len(meta.files_metadata)


def rounds(hub: HubProcess, runs: int) -> dict[str, list[dict[str, Any]]]:
    tools: dict[str, Callable[[str], int]] = {"hubmem": run_hubmem, "huggingface_hub": run_hf_hub}
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in tools}
    for fn in tools.values():  # warm-up: imports, first connections
        fn(hub.endpoint)
    for _ in range(runs):
        for tool, fn in tools.items():
            hub.call("reset")
            t0, c0 = time.perf_counter(), time.process_time()
            files = fn(hub.endpoint)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            time.sleep(0.1)  # cancelled speculative reads finish server-side
            row = {"wall": wall, "cpu": cpu, "files": files, **hub.call("stats")}
            out[tool].append(row)
            print(f"  {tool:<16} {wall:6.2f} s wall {cpu:5.2f} s CPU  {files} files  "
                  f"req hub {row['hub_requests']} cdn {row['cdn_requests']}  "
                  f"conn hub {row['hub_connections']} cdn {row['cdn_connections']}", flush=True)  # fmt: skip
    return out


def summarise_rounds(out: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    med = {t: {k: statistics.median(r[k] for r in rows) for k in ("wall", "cpu")} for t, rows in out.items()}
    ratios = [a["wall"] / b["wall"] for a, b in zip(out["hubmem"], out["huggingface_hub"], strict=True)]
    h = out["hubmem"]
    return {
        "median": med,
        "wall_ratio_per_run": [round(r, 3) for r in ratios],
        "wall_ratio_median": round(statistics.median(ratios), 3),
        "hubmem_requests_max": max(r["requests"] for r in h),
        "requests_limit": 2 * SHARDS + 4,
        "hubmem_connections_max": {o: max(r[f"{o}_connections"] for r in h) for o in ("hub", "cdn")},
    }


# -- client CPU per request ------------------------------------------------------------------------------


async def _gather(n: int, one: Callable[[], Awaitable[object]], width: int = 16) -> None:
    sem = asyncio.Semaphore(width)

    async def run() -> None:
        async with sem:
            await one()

    await asyncio.gather(*(run() for _ in range(n)))


def cpu_per_request(endpoint: str, n: int) -> dict[str, float]:
    import httpx2

    from hubmem.fetch.http.client import HubClient

    url = f"{endpoint}/{SMALL}/resolve/{'5' * 40}/model.safetensors"
    headers = {"Range": "bytes=0-99999", "Accept-Encoding": "identity"}

    async def hubmem() -> None:
        async with HubClient(endpoint=endpoint, token=False) as client:
            await _gather(n, lambda: client.read_header(url, path="model.safetensors"))

    async def plain(module: Any) -> None:
        async with module.AsyncClient(follow_redirects=True) as client:
            await _gather(n, lambda: client.get(url, headers=headers))

    cases: dict[str, Callable[[], Awaitable[None]]] = {
        "hubmem": hubmem, "httpx2": lambda: plain(httpx2),
    }  # fmt: skip
    out: dict[str, float] = {}
    for name, case in cases.items():
        asyncio.run(case())  # warm-up
        c0 = time.process_time()
        asyncio.run(case())
        out[name] = (time.process_time() - c0) / (2 * n) * 1000  # ms per exchange (302 + 206)
        print(f"  {name:<8} {out[name]:.3f} ms CPU per exchange", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scripts.bench.rounds", description=__doc__)
    ap.add_argument("--part", choices=("rounds", "cpu", "both"), default="both")
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_before": os.getloadavg(),
        "latency": args.latency,
    }
    with tempfile.TemporaryDirectory(prefix="rounds-fixtures-") as tmp:
        fixtures = build_fixtures(Path(tmp))
        if args.part in ("rounds", "both"):
            hub = HubProcess(fixtures, args.latency)
            try:
                result["rounds"] = summarise_rounds(rounds(hub, args.runs))
            finally:
                hub.stop()
            print(json.dumps(result["rounds"], indent=1))
        if args.part in ("cpu", "both"):
            hub = HubProcess(fixtures, 0.0)
            try:
                result["cpu_ms_per_exchange"] = cpu_per_request(hub.endpoint, args.requests)
            finally:
                hub.stop()
    result["load_after"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
