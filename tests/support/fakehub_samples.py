"""Small repos in the fixture layout, written with the safetensors library, for the fake-Hub tests."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save

from hubmem.fakehub.fixtures.layout import RepoWriter, write_tokens

SHA_MAIN = "1" * 40
SHA_PR = "2" * 40
TINY = "hubmem-test/tiny"
SHARDED = "hubmem-test/sharded"
BIG = "hubmem-test/big"
GATED = "hubmem-test/gated"
PRIVATE = "hubmem-test/private"
DISABLED = "hubmem-test/disabled"
TOOLONG = "hubmem-test/toolong"
BIG_DATA = 3 * 1024**3  # 3 GiB of (virtual) tensor data

CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4}


def tiny_tensors() -> dict[str, np.ndarray]:
    return {
        "embed.weight": np.zeros((8, 4), dtype=np.float32),
        "norm.weight": np.zeros((4,), dtype=np.float16),
        "step": np.zeros((), dtype=np.int64),
    }


def shard_tensors() -> list[dict[str, np.ndarray]]:
    return [
        {"layers.0.w": np.zeros((6, 6), dtype=np.float32), "layers.0.b": np.zeros((6,), dtype=np.float32)},
        {"layers.1.w": np.zeros((6, 6), dtype=np.float16), "lm_head": np.zeros((10, 6), dtype=np.int8)},
    ]


def count_by_dtype(groups: list[dict[str, np.ndarray]]) -> dict[str, int]:
    """Independent element counts keyed by safetensors dtype names."""
    names = {"float32": "F32", "float16": "F16", "int64": "I64", "int8": "I8"}
    out: dict[str, int] = {}
    for tensors in groups:
        for arr in tensors.values():
            key = names[str(arr.dtype)]
            out[key] = out.get(key, 0) + math.prod(arr.shape)
    return out


def big_header() -> bytes:
    """A hand-written header for one 3 GiB tensor (the data part is never materialised)."""
    n = BIG_DATA // 4
    header: dict[str, Any] = {
        "__metadata__": {"format": "pt"},
        "w": {"dtype": "F32", "shape": [n // 1024, 1024], "data_offsets": [0, BIG_DATA]},
    }
    return json.dumps(header).encode()


def build(root: Path) -> Path:
    write_tokens(root)
    tiny = RepoWriter(
        root, TINY, sha=SHA_MAIN, refs={"main": SHA_MAIN, "refs/pr/1": SHA_PR, "v1.0": SHA_MAIN}
    )
    tiny.add_json("config.json", CONFIG).add_file("README.md", "# tiny\n")
    tiny.add_safetensors("model.safetensors", save(tiny_tensors(), metadata={"format": "pt"}))
    tiny.write()

    sharded = RepoWriter(root, SHARDED, sha=SHA_MAIN)
    shards = shard_tensors()
    names = [f"model-0000{i + 1}-of-00002.safetensors" for i in range(2)]
    weight_map = {t: names[i] for i, tensors in enumerate(shards) for t in tensors}
    sizes = [sum(a.nbytes for a in s.values()) for s in shards]
    sharded.add_json(
        "model.safetensors.index.json", {"metadata": {"total_size": sum(sizes)}, "weight_map": weight_map}
    )
    for name, tensors in zip(names, shards, strict=True):
        sharded.add_safetensors(name, save(tensors), gzip_header=name.startswith("model-00002"))
    sharded.add_json("config.json", CONFIG)
    for path in ("sub/dir/a.txt", "sub/dir/b.txt", "sub/c.txt", "z.txt"):
        sharded.add_file(path, f"file {path}\n")
    sharded.write()

    big = RepoWriter(root, BIG, sha=SHA_MAIN)
    header = big_header()
    big.add_header("model.safetensors", header, size=8 + len(header) + BIG_DATA).write()

    for repo_id, kwargs in (
        (GATED, {"gated": "manual"}),
        (PRIVATE, {"private": True}),
        (DISABLED, {"disabled": True}),
    ):
        w = RepoWriter(root, repo_id, sha=SHA_MAIN, **kwargs)
        w.add_json("config.json", CONFIG).add_safetensors("model.safetensors", save(tiny_tensors())).write()

    RepoWriter(root, TOOLONG, sha=SHA_MAIN).add_synthetic_header(
        "model.safetensors", 30_000_000, size=30_000_108
    ).write()
    (root / "repos" / "incomplete__repo").mkdir(parents=True)  # no repo.json yet: must be skipped
    return root
