"""Cross-check of the Hub's ``safetensors`` summary (per dtype and total) against the headers."""

from __future__ import annotations

from hubmem.check.common import MAX_EXAMPLES, as_count, match_counts
from hubmem.schema.check import CheckItem
from hubmem.schema.weights import WeightsReport
from hubmem.snapshot import Snapshot


def check_hub_parameters(snapshot: Snapshot, weights: WeightsReport) -> CheckItem:
    title = "the Hub's safetensors parameter counts vs the headers"
    name = "hub_parameters"
    if snapshot.hub_info is None:
        why = "read from disk" if snapshot.source != "hub" else "fetched without the Hub's model info"
        return CheckItem(name=name, status="unavailable", title=title, detail=why)
    summary = snapshot.hub_info.get("safetensors")
    if not isinstance(summary, dict):
        return CheckItem(
            name=name, status="unavailable", title=title, detail="the Hub reports no safetensors summary"
        )
    params = summary.get("parameters")
    per_dtype = (
        {str(k): c for k, v in params.items() if (c := as_count(v)) is not None}
        if isinstance(params, dict)
        else {}
    )
    total = as_count(summary.get("total"))
    if total is None and per_dtype:
        total = sum(per_dtype.values())
    if total is None:
        return CheckItem(
            name=name, status="unavailable", title=title, detail="the Hub's safetensors summary has no total"
        )
    item = match_counts(
        name,
        title,
        total,
        [
            ("elements", weights.elements, "naive element count (huggingface_hub semantics)"),
            ("parameters", weights.parameters, "logical parameters"),
        ],
    )
    mine = {d: w.elements for d, w in weights.by_dtype.items()}
    if per_dtype:
        differ = [
            f"{d}: Hub {per_dtype.get(d, 0):,}, headers {mine.get(d, 0):,}"
            for d in sorted(set(per_dtype) | set(mine))
            if per_dtype.get(d, 0) != mine.get(d, 0)
        ]
        if differ:
            item.examples = differ[:MAX_EXAMPLES]
            if item.status == "ok" and item.matches == "elements":
                item.status = "mismatch"
                item.detail = "the total matches the element count but the per-dtype split differs"
            elif item.status == "ok":
                item.detail = (
                    item.detail or ""
                ) + "; the per-dtype split differs (the Hub counts raw elements)"
        elif item.status == "ok":
            item.detail = (item.detail or "") + f"; per dtype too ({len(per_dtype)} dtypes)"
    if snapshot.subfolder and item.status == "mismatch":
        item.detail = (item.detail or "") + (
            f"; note: hubmem read {snapshot.subfolder}/, the Hub's summary covers the files it chooses"
        )
    return item
