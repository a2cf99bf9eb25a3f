"""hubmem-test/* special-case repos: clearly synthetic, each built from real small metadata where possible
(the real all-MiniLM-L6-v2 header and config, the real Devstral params.json)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fixturegen.repo import RepoBuild
from fixturegen.sharding import Shard, index_json
from fixturegen.sources import corpus_file
from fixturegen.stheader import TensorSpec, parse_header, serialize_header

MINILM = "sentence-transformers__all-MiniLM-L6-v2"
MINILM_SIZE = 90_868_376
MINILM_N = 11_408


def minilm_header() -> bytes:
    data = corpus_file(MINILM, "model.safetensors.header.json")
    if data is None:
        from pathlib import Path

        root = Path(__file__).resolve().parents[2] / "fixtures" / "repos" / MINILM
        data = (root / "headers" / "model.safetensors.json").read_bytes()
    if len(data) != MINILM_N:
        raise SystemExit("FATAL: MiniLM real header has the wrong length")
    return data


def minilm_config() -> bytes:
    data = corpus_file(MINILM, "config.json")
    if data is None:
        from pathlib import Path

        data = (
            Path(__file__).resolve().parents[2] / "fixtures" / "repos" / MINILM / "files" / "config.json"
        ).read_bytes()
    return data


REAL_CONFIG = "REAL all-MiniLM-L6-v2 config.json (copied into this synthetic repo)"
REAL_HEADER = "REAL all-MiniLM-L6-v2 header bytes, real file size 90,868,376"


def _minilm_repo(rb: RepoBuild, why: str) -> None:
    rb.synthetic = True
    rb.method = f"SYNTHETIC repo ({why}); content = the real all-MiniLM-L6-v2 config + header"
    rb.add_file("config.json", minilm_config(), REAL_CONFIG)
    header = minilm_header()
    rb.shards["model.safetensors"] = Shard("model.safetensors", parse_header(header))
    rb.add_raw_header("model.safetensors", header, MINILM_SIZE, REAL_HEADER)
    rb.check(
        "8 + N + data == file size",
        MINILM_SIZE,
        8 + len(header) + rb.shards["model.safetensors"].data_size,
        "real MiniLM figures",
    )


def header_99995(rb: RepoBuild) -> None:
    """N = 99,995: the header ends past byte 100,000, so one 'bytes=0-100000' read cannot hold it."""
    rb.synthetic = True
    rb.add_file("config.json", minilm_config(), REAL_CONFIG)
    tensors = parse_header(minilm_header())
    base, data = serialize_header(tensors, {"format": "pt", "note": ""}, align=1)
    pad = 99_995 - len(base)
    header, data = serialize_header(tensors, {"format": "pt", "note": "x" * pad}, align=1)
    rb.method = (
        "SYNTHETIC: the real MiniLM tensors with an __metadata__ string padded so the JSON is exactly 99,995 "
        "bytes (no trailing spaces; a non-library writer could produce this)"
    )
    rb.shards["model.safetensors"] = Shard("model.safetensors", tensors)
    rb.add_raw_header("model.safetensors", header, 8 + len(header) + data, "SYNTHETIC header (see method)")
    rb.check("header length N", 99_995, len(header), "brief: a peer tool breaks at 99,995 (8 + N > 100,000)")
    rb.check_true(
        "header is valid compact JSON with no padding",
        json.loads(header) is not None and header[-1:] == b"}",
        "ends with '}'",
        "construction",
    )


def header_too_large(rb: RepoBuild) -> None:
    rb.synthetic = True
    rb.method = (
        "SYNTHETIC: N field = 30,000,000 (> the 25,000,000-byte limit); "
        "served as '{' + spaces, no headers/ file"
    )
    rb.add_file("config.json", minilm_config(), REAL_CONFIG)
    rb.add_blob(
        "model.safetensors", 8 + 30_000_000 + 4096, "SYNTHETIC (header_length)", header_length=30_000_000
    )
    rb.check_true("N above the 25,000,000 limit", 30_000_000 > 25_000_000, "30,000,000", "theory.md 3.1")


def corrupt_header(rb: RepoBuild) -> None:
    rb.synthetic = True
    rb.method = (
        "SYNTHETIC: the real MiniLM header with its closing '}' replaced by a space (invalid JSON, same N)"
    )
    rb.add_file("config.json", minilm_config(), REAL_CONFIG)
    header = minilm_header()
    end = header.rstrip(b" ")
    bad = end[:-1] + b" " + header[len(end) :]
    rb.add_raw_header("model.safetensors", bad, MINILM_SIZE, "SYNTHETIC corrupt header")
    try:
        json.loads(bad)
        invalid = False
    except ValueError:
        invalid = True
    rb.check_true("header is not valid JSON", invalid, f"N = {len(bad):,}", "construction")


def unknown_dtype(rb: RepoBuild) -> None:
    rb.synthetic = True
    rb.method = (
        "SYNTHETIC: the real MiniLM header with pooler.dense.bias dtype 'F32' renamed to unknown 'Q4_K'"
    )
    rb.add_file("config.json", minilm_config(), REAL_CONFIG)
    obj = json.loads(minilm_header())
    obj["pooler.dense.bias"]["dtype"] = "Q4_K"
    raw = json.dumps(obj, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    data = max(v["data_offsets"][1] for k, v in obj.items() if k != "__metadata__")
    rb.add_raw_header("model.safetensors", raw, 8 + len(raw) + data, "SYNTHETIC header with an unknown dtype")
    rb.check(
        "8 + N + data == file size",
        8 + len(raw) + data,
        rb.files["model.safetensors"]["size"],
        "construction",
    )


def pytorch_only(rb: RepoBuild) -> None:
    rb.synthetic = True
    rb.method = (
        "SYNTHETIC: config.json + pytorch_model.bin (an LFS blob served as zeros); no safetensors at all"
    )
    rb.add_file("config.json", minilm_config(), REAL_CONFIG)
    rb.add_blob(
        "pytorch_model.bin", 90_888_945, "SYNTHETIC LFS blob (size: MiniLM's pytorch_model.bin, unverified)"
    )


def subfolder_only(rb: RepoBuild) -> None:
    rb.synthetic = True
    rb.method = (
        "SYNTHETIC diffusers-style layout: weights only in transformer/diffusion_pytorch_model.safetensors "
        "(the real MiniLM header bytes) + transformer/config.json; model_index.json at the root"
    )
    model_index = {
        "_class_name": "HubmemTestPipeline",
        "_diffusers_version": "0.35.0",
        "transformer": ["diffusers", "HubmemTestTransformer"],
    }
    rb.add_file("model_index.json", (json.dumps(model_index, indent=2) + "\n").encode(), "SYNTHETIC")
    rb.add_file("transformer/config.json", minilm_config(), REAL_CONFIG)
    header = minilm_header()
    name = "transformer/diffusion_pytorch_model.safetensors"
    rb.shards[name] = Shard(name, parse_header(header))
    rb.add_raw_header(name, header, MINILM_SIZE, REAL_HEADER)


def consolidated_only(rb: RepoBuild) -> None:
    """Mistral-native layout: params.json + consolidated.safetensors only (Mistral reference-code names)."""
    rb.synthetic = True
    params_raw = corpus_file("mistralai__Devstral-Small-2507", "params.json")
    if params_raw is None:
        from pathlib import Path

        root = Path(__file__).resolve().parents[2] / "fixtures" / "repos" / "mistralai__Devstral-Small-2507"
        params_raw = (root / "files" / "params.json").read_bytes()
    rb.add_file("params.json", params_raw, "REAL mistralai/Devstral-Small-2507 params.json (copied)")
    p = json.loads(params_raw)
    dim, hd, nh, nkv, hidden, vocab = (
        p["dim"],
        p["head_dim"],
        p["n_heads"],
        p["n_kv_heads"],
        p["hidden_dim"],
        p["vocab_size"],
    )
    ts = [
        TensorSpec("tok_embeddings.weight", "BF16", (vocab, dim)),
        TensorSpec("norm.weight", "BF16", (dim,)),
        TensorSpec("output.weight", "BF16", (vocab, dim)),
    ]
    for i in range(p["n_layers"]):
        pre = f"layers.{i}."
        ts += [
            TensorSpec(pre + "attention.wq.weight", "BF16", (nh * hd, dim)),
            TensorSpec(pre + "attention.wk.weight", "BF16", (nkv * hd, dim)),
            TensorSpec(pre + "attention.wv.weight", "BF16", (nkv * hd, dim)),
            TensorSpec(pre + "attention.wo.weight", "BF16", (dim, nh * hd)),
            TensorSpec(pre + "feed_forward.w1.weight", "BF16", (hidden, dim)),
            TensorSpec(pre + "feed_forward.w2.weight", "BF16", (dim, hidden)),
            TensorSpec(pre + "feed_forward.w3.weight", "BF16", (hidden, dim)),
            TensorSpec(pre + "attention_norm.weight", "BF16", (dim,)),
            TensorSpec(pre + "ffn_norm.weight", "BF16", (dim,)),
        ]
    rb.method = (
        "SYNTHETIC repo: only consolidated.safetensors (Mistral-native names) generated from the real "
        "Devstral params.json; no config.json, no HF shards"
    )
    shard = Shard("consolidated.safetensors", ts, None)
    rb.add_shard(shard, rb.method)
    rb.check(
        "bytes == the real Devstral HF index total_size (same weights, other names)",
        47_144_806_400,
        shard.data_size,
        "mistralai/Devstral-Small-2507 model.safetensors.index.json",
    )


def broken_index(rb: RepoBuild) -> None:
    rb.synthetic = True
    rb.method = (
        "SYNTHETIC: the real MiniLM tensors split into 2 shards; the index also names a tensor no shard "
        "holds and its total_size is 1,000 bytes too large"
    )
    rb.add_file("config.json", minilm_config(), REAL_CONFIG)
    tensors = parse_header(minilm_header())
    half = len(tensors) // 2
    shards = [
        Shard("model-00001-of-00002.safetensors", tensors[:half]),
        Shard("model-00002-of-00002.safetensors", tensors[half:]),
    ]
    for s in shards:
        rb.add_shard(s, "SYNTHETIC shard of the real MiniLM tensors")
    index = json.loads(index_json(shards))
    index["weight_map"]["encoder.layer.6.attention.self.query.weight"] = "model-00002-of-00002.safetensors"
    index["metadata"]["total_size"] += 1000
    rb.add_file(
        "model.safetensors.index.json",
        (json.dumps(index, indent=2, sort_keys=True) + "\n").encode(),
        "SYNTHETIC, deliberately inconsistent",
    )
    rb.notes.append("deliberately broken: weight_map has a tensor no shard holds; total_size = real + 1000")


def bogus_hub_total(rb: RepoBuild) -> None:
    _minilm_repo(rb, "the Hub API reports a bogus safetensors total, as in huggingface_hub #4221")
    rb.hub = {"safetensors": {"parameters": {"F32": 333_312}, "total": 333_312}}


SPECIALS: dict[str, tuple[Callable[[RepoBuild], None], dict[str, Any]]] = {
    "hubmem-test/header-99995": (header_99995, {}),
    "hubmem-test/header-too-large": (header_too_large, {}),
    "hubmem-test/corrupt-header": (corrupt_header, {}),
    "hubmem-test/unknown-dtype": (unknown_dtype, {}),
    "hubmem-test/pytorch-only": (pytorch_only, {}),
    "hubmem-test/subfolder-weights": (subfolder_only, {}),
    "hubmem-test/consolidated-only": (consolidated_only, {}),
    "hubmem-test/broken-index": (broken_index, {}),
    "hubmem-test/bogus-hub-total": (bogus_hub_total, {}),
    "hubmem-test/private": (lambda rb: _minilm_repo(rb, "private repo"), {"private": True}),
    "hubmem-test/disabled": (lambda rb: _minilm_repo(rb, "disabled repo"), {"disabled": True}),
    "hubmem-test/gated-auto": (lambda rb: _minilm_repo(rb, "gated 'auto' repo"), {"gated": "auto"}),
    "hubmem-test/pr-ref": (
        lambda rb: _minilm_repo(rb, "extra refs/pr/1 ref"),
        {"extra_refs": {"refs/pr/1": "pr1"}},
    ),
}
