"""One fuzz input per call for each target of ``scripts.fuzz.targets`` (seeded ``random.Random``, no
hypothesis: a million inputs must cost minutes, not hours). Each maker returns the input's bytes and the
keyword arguments its target takes besides them."""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Callable
from typing import Any

from hubmem.fetch.cache.files import encode_entry
from hubmem.service.params import QUERY_PARAMS
from scripts.fuzz import gguf_bytes, mutate, seeds
from scripts.fuzz.strategies import MARKUP, SPLICES, config_keys

Made = tuple[bytes, dict[str, Any]]
REPORT_EVERY = 200  # one header input in this many also builds the whole report on it
RENDER_EVERY = 10  # one report in this many is also printed as the CLI prints it

OPTION_CHOICES: dict[str, list[Any]] = {
    "kv.context": [None, 1, 8192, 131_072, 2**20, 2**40],
    "kv.batch": [1, 1, 8, 2**20],
    "kv.engine": ["transformers", "vllm", "llama.cpp"],
    "kv.include_mtp": [False, True],
    "kv.kv_dtype": ["auto", "fp8", "fp32"],
    "kv.transformers_cache": ["dynamic", "static"],
    "training.method": ["full", "lora", "qlora"],
    "training.zero": [0, 3],
    "training.seq_len": [1, 2048, 2**20],
    "gpu": [None, "h100", "l4"],
    "fit": ["inference", "training"],
    "gpu_utilization": [None, 1e-12, 0.5, 0.9, 1.0],
}


def options(rng: random.Random) -> dict[str, Any]:
    """Caller options as the CLI or service would pass them (a few set, the rest default)."""
    out: dict[str, Any] = {}
    for name in rng.sample(sorted(OPTION_CHOICES), rng.randint(0, 4)):
        section, _, field = name.rpartition(".")
        target = out.setdefault(section, {}) if section else out
        target[field] = rng.choice(OPTION_CHOICES[name])
    return out


def _pad(raw: bytes) -> bytes:
    return raw + b" " * (-len(raw) % 8)


def header_input(rng: random.Random, i: int) -> Made:
    """A safetensors header: a real one damaged, a real sub-header (clean or edited), or junk."""
    roll = rng.random()
    kw: dict[str, Any] = {}
    if i % REPORT_EVERY == 0:
        kw = {"with_report": True, "options": options(rng), "render": i % (REPORT_EVERY * RENDER_EVERY) == 0}
    if roll < 0.35:
        return mutate.damage(rng, rng.choice(seeds.header_seeds()), seeds.header_seeds()), kw
    if roll < 0.95:
        sub = mutate.sub_header(rng, rng.choice(seeds.header_jsons()))
        if roll >= 0.6:
            sub = mutate.edit_json(rng, sub, ["dtype", "shape", "data_offsets", "__metadata__", "x"])
        raw = _pad(mutate.dump(rng, sub))
        return (mutate.damage(rng, raw, seeds.header_seeds()) if rng.random() < 0.2 else raw), kw
    return rng.choice([rng.randbytes(rng.randint(0, 64)), *SPLICES]), kw


def config_input(rng: random.Random, i: int) -> Made:
    """config.json bytes: a real config with hostile values, damaged bytes, or both."""
    raw = rng.choice(seeds.config_seeds())
    roll = rng.random()
    if roll < 0.75:
        raw = mutate.dump(rng, mutate.edit_json(rng, json.loads(raw), config_keys()))
    if roll >= 0.6:
        raw = mutate.damage(rng, raw, seeds.config_seeds())
    return raw, {
        "files": i,
        "options": options(rng),
        "companion": i % 10 == 0,
        "render": i % RENDER_EVERY == 0,
    }


U64S = [2**64 - 1, 2**63, 2**40, 5000, 0, 1, 13, 2**32]
U32S = [0, 1, 2, 3, 4, 9, 12, 13, 0xFFFFFFFF, 0x46554747]


GGUF_KEYS = [
    "block_count",
    "context_length",
    "embedding_length",
    "feed_forward_length",
    "attention.head_count",
    "attention.head_count_kv",
    "attention.key_length",
    "attention.value_length",
    "attention.sliding_window",
    "attention.sliding_window_pattern",
    "attention.kv_lora_rank",
    "attention.key_length_mla",
    "rope.freq_base",
    "rope.dimension_count",
    "expert_count",
    "expert_used_count",
    "expert_shared_count",
    "nextn_predict_layers",
    "leading_dense_block_count",
    "ssm.state_size",
    "ssm.inner_size",
    "ssm.conv_kernel",
    "ssm.group_count",
    "full_attention_interval",
    "vocab_size",
]  # the <arch>.* keys the GGUF architecture reader asks for


def gguf_input(rng: random.Random, i: int) -> Made:
    """A GGUF header prefix: with hostile metadata values at the keys the engine views read, or with
    counts, lengths and types overwritten, bytes damaged or cut short."""
    if rng.random() < 0.3:
        return _gguf_values(rng), {
            "with_report": True,
            "options": options(rng),
            "render": i % RENDER_EVERY == 0,
        }
    buf = bytearray(rng.choice(seeds.gguf_seeds()))
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(buf))
        roll = rng.random()
        if roll < 0.35:
            buf[at : at + 8] = struct.pack("<Q", rng.choice(U64S))
        elif roll < 0.6:
            buf[at : at + 4] = struct.pack("<I", rng.choice(U32S))
        else:
            buf = bytearray(mutate.damage(rng, bytes(buf), seeds.gguf_seeds()))
    kw = {"with_report": True, "options": options(rng), "render": False} if i % 10 == 0 else {}
    return bytes(buf), kw


def _gguf_values(rng: random.Random) -> bytes:
    from hubmem.formats.gguf.parser import parse_gguf

    header = parse_gguf(rng.choice(seeds.gguf_seeds()[:3]))
    metadata = dict(header.metadata)
    arch = rng.choice([header.architecture or "qwen3", "llama", "deepseek2", "gemma3", "mamba2", "qwen3moe"])
    metadata["general.architecture"] = arch
    for _ in range(rng.randint(1, 4)):
        value = mutate.hostile_value(rng)
        metadata[f"{arch}.{rng.choice(GGUF_KEYS)}"] = (
            value if isinstance(value, int | float | str | list) else 0
        )
    return gguf_bytes.encode(header, metadata)


def cache_input(rng: random.Random, i: int) -> Made:
    """A header-cache entry file: a real header entry damaged, or re-checksummed with an edited value (an
    entry another version wrote, or a forged one), safetensors or GGUF."""
    kind = rng.choice(["header", "file", "complete"])
    value: dict[str, Any] = {"kind": kind}
    if kind == "header":
        value.update(
            header_length=2048, size=None, header=mutate.sub_header(rng, rng.choice(seeds.header_jsons()))
        )
        if rng.random() < 0.4:
            value.update(format="gguf", header=_gguf_record(rng))
    elif kind == "file":
        value["text" if rng.random() < 0.5 else "b64"] = rng.choice(["{}", "QUJD", "x" * 50])
    else:
        value["paths"] = ["model.safetensors"]
    key = ["https://hub", "fuzz/repo", "f" * 40, "", "model.safetensors"]  # targets.cache_entry's key
    if rng.random() < 0.5:
        return mutate.damage(rng, encode_entry(key, value), ()), {}
    edited = mutate.edit_json(
        rng, json.loads(json.dumps(value)), ["header_length", "size", "header", "format", "kind", "tensors"]
    )
    try:
        return encode_entry(key, edited), {}
    except ValueError:  # NaN: the cache never writes it
        return encode_entry(key, value), {}


def _gguf_record(rng: random.Random) -> dict[str, Any]:
    from hubmem.formats.gguf.parser import parse_gguf
    from hubmem.formats.gguf.record import header_record

    return header_record(parse_gguf(rng.choice(seeds.gguf_seeds())))


def service_input(rng: random.Random, i: int) -> Made:
    """Query parameters (known and unknown names, hostile values, repeats) and a scan request body."""
    names = sorted(QUERY_PARAMS)
    query: dict[str, list[str]] = {}
    for _ in range(rng.randint(0, 5)):
        name = rng.choice(names) if rng.random() < 0.9 else rng.choice(MARKUP)
        values = [_query_value(rng) for _ in range(1 if rng.random() < 0.9 else 2)]
        query.setdefault(name, []).extend(values)
    ids = [
        rng.choice(["org/name", "gpt2", "a" * 97, "../x", "org/na me", "o/n/x", "", "--x"]) for _ in range(3)
    ]
    ids += [_query_value(rng) for _ in range(rng.randint(0, 3))]
    body = json.dumps(ids if rng.random() < 0.7 else {"repo_ids": ids}).encode()
    return (mutate.damage(rng, body, ()) if rng.random() < 0.5 else body), {"query": query}


def _query_value(rng: random.Random) -> str:
    pool = ["", "0", "-1", "1", "2", "8", "nan", "inf", "1e18", "9" * 5000, "true", "false", "yes", "vllm"]
    pool += ["llama.cpp", "fp8", "h100", "training", "main", "refs/pr/1", "../x", "a\x00b", *MARKUP]
    return rng.choice(pool) if rng.random() < 0.9 else str(rng.randint(-(2**70), 2**70))


MAKERS: dict[str, Callable[[random.Random, int], Made]] = {
    "header": header_input,
    "config": config_input,
    "gguf": gguf_input,
    "cache": cache_input,
    "service": service_input,
}
