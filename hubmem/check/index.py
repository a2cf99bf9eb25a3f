"""Cross-checks of the index: ``metadata.total_size``, ``metadata.total_parameters`` and the
``weight_map`` against the shards' headers."""

from __future__ import annotations

import posixpath
from collections import defaultdict
from typing import Any

from hubmem.check.common import MAX_EXAMPLES, match_counts
from hubmem.estimate.weights.report import as_count
from hubmem.schema.check import CheckItem
from hubmem.schema.weights import WeightsReport
from hubmem.snapshot import Snapshot


def _index_metadata(snapshot: Snapshot) -> dict[str, Any] | None:
    if not isinstance(snapshot.index, dict):
        return None
    meta = snapshot.index.get("metadata")
    return meta if isinstance(meta, dict) else None


def check_index_total_size(snapshot: Snapshot, weights: WeightsReport) -> CheckItem:
    title = "index metadata.total_size vs the bytes the headers describe"
    name = "index_total_size"
    if snapshot.index is None:
        return CheckItem(
            name=name, status="unavailable", title=title, detail="single-file checkpoint: no index"
        )
    meta = _index_metadata(snapshot)
    claimed = as_count(meta.get("total_size")) if meta is not None else None
    if claimed is None:
        return CheckItem(
            name=name,
            status="unavailable",
            title=title,
            detail=f"{snapshot.index_path or 'the index'} has no metadata.total_size",
        )
    actual = weights.total_bytes
    item = CheckItem(
        name=name,
        status="ok",
        title=title,
        expected=claimed,
        actual=actual,
        difference=actual - claimed,
        unit="bytes",
    )
    if claimed == actual:
        item.detail = "equals the sum of end - begin over every tensor"
        return item
    item.status = "mismatch"
    file_total = sum(f.size for f in snapshot.files if f.size is not None)
    if file_total and all(f.size is not None for f in snapshot.files) and claimed == file_total:
        item.detail = "the index states the total file size (headers included), not the tensor bytes"
    else:
        item.detail = f"the headers describe {actual:,} bytes of tensor data, the index claims {claimed:,}"
    return item


def check_index_total_parameters(snapshot: Snapshot, weights: WeightsReport) -> CheckItem:
    title = "metadata.total_parameters vs parameters counted from the headers"
    name = "index_total_parameters"
    claimed = weights.total_parameters_metadata
    if claimed is None:
        where = "the index" if snapshot.index is not None else "the header's __metadata__"
        return CheckItem(
            name=name, status="unavailable", title=title, detail=f"{where} states no total_parameters"
        )
    return match_counts(
        name,
        title,
        claimed,
        [
            ("parameters", weights.parameters, "logical parameters"),
            ("elements", weights.elements, "raw element count"),
        ],
    )


def check_index_weight_map(snapshot: Snapshot) -> CheckItem:
    title = "index weight_map vs the tensors the shards hold"
    name = "index_weight_map"
    index = snapshot.index
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if index is None:
        return CheckItem(
            name=name, status="unavailable", title=title, detail="single-file checkpoint: no index"
        )
    if not isinstance(weight_map, dict):
        return CheckItem(name=name, status="unavailable", title=title, detail="the index has no weight_map")
    base = posixpath.dirname(snapshot.index_path or "")
    held: dict[str, list[str]] = defaultdict(list)  # tensor name -> files (repo paths) holding it
    for f in snapshot.files:
        for t in f.header:
            if t != "__metadata__":
                held[t].append(f.path)
    missing: list[str] = []
    misplaced: list[str] = []
    for tensor, shard in weight_map.items():
        where = held.get(tensor)
        if not where:
            missing.append(tensor)
            continue
        listed = (
            posixpath.normpath(posixpath.join(base, str(shard))) if base else posixpath.normpath(str(shard))
        )
        if listed not in where:
            misplaced.append(f"{tensor} (index: {shard}, found in {', '.join(where)})")
    extra = [t for t in held if t not in weight_map]
    dupes = [f"{t} ({', '.join(files)})" for t, files in held.items() if len(files) > 1]
    problems = [
        (missing, "named by the index but held by no shard"),
        (misplaced, "held by another shard than the index says"),
        (extra, "held by a shard but not named by the index"),
        (dupes, "held by more than one shard"),
    ]
    found = [(names, words) for names, words in problems if names]
    item = CheckItem(
        name=name,
        status="ok",
        title=title,
        expected=len(weight_map),
        actual=len(held),
        difference=len(held) - len(weight_map),
        unit="tensors",
    )
    if not found:
        item.detail = f"all {len(weight_map):,} tensors are where the index says, once each"
        return item
    item.status = "mismatch"
    item.detail = "; ".join(f"{len(names):,} {words}" for names, words in found)
    item.examples = [_label(words) + n for names, words in found for n in names[:MAX_EXAMPLES]][
        : 2 * MAX_EXAMPLES
    ]
    return item


def _label(words: str) -> str:
    return {
        "named by the index but held by no shard": "missing: ",
        "held by another shard than the index says": "misplaced: ",
        "held by a shard but not named by the index": "extra: ",
        "held by more than one shard": "duplicated: ",
    }[words]
