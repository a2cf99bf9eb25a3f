"""Shard tensor lists like save_pretrained and write model.safetensors.index.json like transformers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from fixturegen.stheader import TensorSpec, serialize_header


@dataclass
class Shard:
    filename: str
    tensors: list[TensorSpec]
    metadata: dict[str, str] | None = field(default_factory=lambda: {"format": "pt"})
    align: int = 8
    pad_to: int | None = None
    keep_order: bool = False

    def header(self) -> tuple[bytes, int]:
        return serialize_header(
            self.tensors, self.metadata, align=self.align, pad_to=self.pad_to, keep_order=self.keep_order
        )

    @property
    def data_size(self) -> int:
        return sum(t.nbytes for t in self.tensors)

    @property
    def numel(self) -> int:
        return sum(t.numel for t in self.tensors)


def split_like_hub(tensors: Sequence[TensorSpec], max_shard_size: int) -> list[list[TensorSpec]]:
    """huggingface_hub ``split_state_dict_into_shards_factory`` (used by save_pretrained), in order."""
    shards: list[list[TensorSpec]] = []
    current: list[TensorSpec] = []
    current_size = 0
    for t in tensors:
        size = t.nbytes
        if size > max_shard_size:  # the hub puts an oversize tensor in a shard of its own
            shards.append([t])
            continue
        if current_size + size > max_shard_size:
            shards.append(current)
            current, current_size = [], 0
        current.append(t)
        current_size += size
    if current:
        shards.append(current)
    return shards


def shard_names(
    n: int, *, pattern: str = "model-{i:05d}-of-{n:05d}.safetensors", start: int = 1
) -> list[str]:
    if n == 1:
        return ["model.safetensors"]
    return [pattern.format(i=i, n=n) for i in range(start, start + n)]


def assign_by_index(tensors: Sequence[TensorSpec], weight_map: dict[str, str]) -> dict[str, list[TensorSpec]]:
    """Group tensors by the shard a real index assigns them to; fails if the sets differ."""
    names = {t.name for t in tensors}
    missing = sorted(set(weight_map) - names)
    extra = sorted(names - set(weight_map))
    if missing or extra:
        raise SystemExit(
            f"FATAL: tensor set differs from the real index: {len(missing)} only in the index "
            f"(e.g. {missing[:3]}), {len(extra)} only in the model (e.g. {extra[:3]})"
        )
    out: dict[str, list[TensorSpec]] = {}
    for t in tensors:
        out.setdefault(weight_map[t.name], []).append(t)
    return dict(sorted(out.items()))


def index_json(shards: Sequence[Shard], *, total_parameters: bool = False) -> bytes:
    """transformers 4.x: ``json.dumps(index, indent=2, sort_keys=True) + "\\n"``."""
    meta: dict[str, int] = {"total_size": sum(s.data_size for s in shards)}
    if total_parameters:
        meta["total_parameters"] = sum(s.numel for s in shards)
    weight_map = {t.name: s.filename for s in shards for t in s.tensors}
    return (
        json.dumps({"metadata": meta, "weight_map": weight_map}, indent=2, sort_keys=True) + "\n"
    ).encode()
