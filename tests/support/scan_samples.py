"""Tiny Llama-style repos in the fixture layout (written with the safetensors library) for the scan,
check, cache and local tests. Every expected figure is computed here from the numpy arrays written:
bytes = sum(arr.nbytes), parameters = sum(arr.size), file size = len(the serialized file)."""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save

from hubmem.fakehub.fixtures.layout import RepoWriter, write_tokens


@dataclass(frozen=True)
class Dims:
    hidden: int = 32
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    head_dim: int = 8
    mlp: int = 64
    vocab: int = 128

    def config(self, **overrides: Any) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_size": self.hidden,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "head_dim": self.head_dim,
            "intermediate_size": self.mlp,
            "vocab_size": self.vocab,
            "max_position_embeddings": 2048,
            "torch_dtype": "float16",
            "tie_word_embeddings": False,
            "rms_norm_eps": 1e-5,
        }
        cfg.update(overrides)
        return cfg


def llama_tensors(d: Dims, dtype: Any = np.float16) -> dict[str, np.ndarray]:
    t: dict[str, np.ndarray] = {"model.embed_tokens.weight": np.zeros((d.vocab, d.hidden), dtype)}
    for i in range(d.layers):
        p = f"model.layers.{i}."
        t[p + "self_attn.q_proj.weight"] = np.zeros((d.heads * d.head_dim, d.hidden), dtype)
        t[p + "self_attn.k_proj.weight"] = np.zeros((d.kv_heads * d.head_dim, d.hidden), dtype)
        t[p + "self_attn.v_proj.weight"] = np.zeros((d.kv_heads * d.head_dim, d.hidden), dtype)
        t[p + "self_attn.o_proj.weight"] = np.zeros((d.hidden, d.heads * d.head_dim), dtype)
        t[p + "mlp.gate_proj.weight"] = np.zeros((d.mlp, d.hidden), dtype)
        t[p + "mlp.up_proj.weight"] = np.zeros((d.mlp, d.hidden), dtype)
        t[p + "mlp.down_proj.weight"] = np.zeros((d.hidden, d.mlp), dtype)
        t[p + "input_layernorm.weight"] = np.zeros((d.hidden,), dtype)
        t[p + "post_attention_layernorm.weight"] = np.zeros((d.hidden,), dtype)
    t["model.norm.weight"] = np.zeros((d.hidden,), dtype)
    t["lm_head.weight"] = np.zeros((d.vocab, d.hidden), dtype)
    return t


def header_length(blob: bytes) -> int:
    return int(struct.unpack("<Q", blob[:8])[0])


@dataclass
class Expected:
    """First-principles figures of one written repo."""

    repo_id: str
    sha: str
    total_bytes: int
    parameters: int
    file_sizes: dict[str, int] = field(default_factory=dict)
    header_lengths: dict[str, int] = field(default_factory=dict)
    shards: int = 1


def split_shards(tensors: dict[str, np.ndarray], n: int) -> list[dict[str, np.ndarray]]:
    names = list(tensors)
    per = math.ceil(len(names) / n)
    return [{k: tensors[k] for k in names[i * per : (i + 1) * per]} for i in range(n)]


def shard_name(i: int, n: int) -> str:
    return f"model-{i + 1:05d}-of-{n:05d}.safetensors"


def write_llama(
    root: Path,
    repo_id: str,
    *,
    sha: str = "1" * 40,
    dims: Dims = Dims(),
    shards: int = 1,
    config: dict[str, Any] | None = None,
    index_metadata: dict[str, Any] | None = None,
    weight_map_edit: dict[str, str | None] | None = None,
    hub: dict[str, Any] | None = None,
    size_padding: int = 0,
    duplicate: str | None = None,
    refs: dict[str, str] | None = None,
    **writer_kw: Any,
) -> Expected:
    """One repo: config.json + ``model.safetensors`` (shards=1) or ``shards`` shards with an index.

    ``weight_map_edit`` adds (name -> shard) or removes (name -> None) index entries without touching
    the shards; ``duplicate`` also stores that tensor in the last shard; ``size_padding`` makes the
    first weight file that many bytes larger than 8 + N + data (a padded / corrupt file)."""
    tensors = llama_tensors(dims)
    w = RepoWriter(root, repo_id, sha=sha, hub=hub, refs=refs, **writer_kw)
    w.add_json("config.json", config if config is not None else dims.config())
    exp = Expected(repo_id, sha, 0, 0, shards=shards)
    groups = split_shards(tensors, shards) if shards > 1 else [tensors]
    if duplicate is not None:
        groups[-1] = {**groups[-1], duplicate: tensors[duplicate]}
    weight_map: dict[str, str] = {}
    for i, group in enumerate(groups):
        name = "model.safetensors" if shards == 1 else shard_name(i, shards)
        blob = save(group, metadata={"format": "pt"})
        size = len(blob) + (size_padding if i == 0 else 0)
        w.add_safetensors(name, blob, size=size)
        exp.file_sizes[name] = size
        exp.header_lengths[name] = header_length(blob)
        exp.total_bytes += sum(a.nbytes for a in group.values())
        exp.parameters += sum(a.size for a in group.values())
        for t in group:
            weight_map.setdefault(t, name)
    if shards > 1:
        for k, v in (weight_map_edit or {}).items():
            if v is None:
                weight_map.pop(k, None)
            else:
                weight_map[k] = v
        meta = {"total_size": exp.total_bytes} if index_metadata is None else index_metadata
        w.add_json("model.safetensors.index.json", {"metadata": meta, "weight_map": weight_map})
    w.write()
    return exp


def write_many(root: Path, n: int, *, prefix: str = "scan") -> dict[str, Expected]:
    """``n`` repos (a mix of single-file and 2/3-shard layouts, three model sizes) plus tokens.json."""
    write_tokens(root)
    out: dict[str, Expected] = {}
    sizes = [Dims(), Dims(hidden=48, layers=3, mlp=96), Dims(hidden=16, layers=1, mlp=32, vocab=64)]
    for i in range(n):
        repo_id = f"{prefix}/m{i:04d}"
        sha = f"{i:040x}"
        out[repo_id] = write_llama(
            root, repo_id, sha=sha, dims=sizes[i % 3], shards=(1, 2, 3)[i % 3 if i % 5 else 0]
        )
    return out


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
