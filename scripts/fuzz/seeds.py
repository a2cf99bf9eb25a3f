"""The real bytes the long fuzz run mutates: safetensors headers and config.json files of the fixture repos
(and of ``../shared/corpus`` when that folder exists), and small GGUF headers written by gguf-py the way
``scripts/fixtures/gguf.py`` writes the Qwen3 fixtures."""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path
from typing import Any

from scripts import ROOT

FIXTURES = ROOT / "fixtures"
CORPUS = ROOT.parent / "shared" / "corpus"
MAX_SEED_HEADER = 64 * 1024  # bigger headers only feed sub-headers (keeps the run at thousands a second)


def _read(path: Path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if path.name.endswith(".gz") else raw


@functools.cache
def header_jsons() -> tuple[dict[str, Any], ...]:
    """Every fixture header of at most 1 MB that is JSON (the corrupt-header fixture is not)."""
    out = []
    for path in sorted(FIXTURES.glob("repos/*/headers/*.json*")):
        raw = _read(path)
        if len(raw) > 1 << 20:
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return tuple(out)


@functools.cache
def header_seeds() -> tuple[bytes, ...]:
    """Fixture headers of at most MAX_SEED_HEADER bytes, as their files hold them."""
    out = []
    for path in sorted(FIXTURES.glob("repos/*/headers/*.json*")):
        raw = _read(path)
        if len(raw) <= MAX_SEED_HEADER:
            out.append(raw)
    return tuple(out)


@functools.cache
def config_seeds() -> tuple[bytes, ...]:
    """config.json of the fixture repos and the corpus, and the theory configs."""
    paths = sorted(FIXTURES.glob("repos/*/files/config.json")) + sorted(FIXTURES.glob("theory/*.json"))
    if CORPUS.is_dir():
        paths += sorted(CORPUS.glob("*/config.json"))
    return tuple(p.read_bytes() for p in paths)


TINY_QWEN3 = {
    "hidden_size": 256,
    "vocab_size": 64,
    "intermediate_size": 512,
    "head_dim": 64,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "max_position_embeddings": 4096,
    "rope_theta": 1_000_000,
}


@functools.cache
def gguf_seeds() -> tuple[bytes, ...]:
    """Tiny Qwen3 GGUF headers (2 layers, 64 tokens) in three quantizations, one of them split in three,
    and the fixture split shards that hold no vocabulary."""
    from scripts.fixtures.gguf import _qwen3_prefixes

    out: list[bytes] = []
    for quant in ("Q4_K_M", "Q6_K", "Q8_0"):
        out += [prefix for prefix, _ in _qwen3_prefixes(TINY_QWEN3, quant, f"tiny-{quant}.gguf").values()]
    out += [prefix for prefix, _ in _qwen3_prefixes(TINY_QWEN3, "Q8_0", "tiny.gguf", split=10).values()]
    out += [_read(p) for p in sorted(FIXTURES.glob("repos/*/headers/*-0000[23]-of-*.gguf.prefix"))]
    return tuple(out)
