"""Cross-check of the Hub's ``safetensors`` summary (per dtype and total) against the headers."""

from __future__ import annotations

from hubmem.check.common import MAX_EXAMPLES, match_counts
from hubmem.estimate.weights.report import as_count
from hubmem.schema.check import CheckItem
from hubmem.schema.weights import WeightsReport
from hubmem.snapshot import Snapshot

_TITLE = "the Hub's safetensors parameter counts vs the headers"
_NAME = "hub_parameters"


def _unavailable(detail: str) -> CheckItem:
    return CheckItem(name=_NAME, status="unavailable", title=_TITLE, detail=detail)


def _summary(snapshot: Snapshot) -> tuple[int | None, dict[str, int]] | str:
    """The Hub's (total, per-dtype counts), or why there is none."""
    if snapshot.hub_info is None:
        return "read from disk" if snapshot.source != "hub" else "fetched without the Hub's model info"
    summary = snapshot.hub_info.get("safetensors")
    if not isinstance(summary, dict):
        return "the Hub reports no safetensors summary"
    params = summary.get("parameters")
    per_dtype = {}
    if isinstance(params, dict):
        per_dtype = {str(k): c for k, v in params.items() if (c := as_count(v)) is not None}
    total = as_count(summary.get("total"))
    if total is None and per_dtype:
        total = sum(per_dtype.values())
    return total, per_dtype


def _per_dtype(item: CheckItem, per_dtype: dict[str, int], weights: WeightsReport) -> None:
    """Compare the Hub's per-dtype split with the headers' element counts."""
    mine = {d: w.elements for d, w in weights.by_dtype.items()}
    differ = [
        f"{d}: Hub {per_dtype.get(d, 0):,}, headers {mine.get(d, 0):,}"
        for d in sorted(set(per_dtype) | set(mine))
        if per_dtype.get(d, 0) != mine.get(d, 0)
    ]
    if not differ:
        if item.status == "ok":
            item.detail = (item.detail or "") + f"; per dtype too ({len(per_dtype)} dtypes)"
        return
    item.examples = differ[:MAX_EXAMPLES]
    if item.status == "ok" and item.matches == "elements":
        item.status = "mismatch"
        item.detail = "the total matches the element count but the per-dtype split differs"
    elif item.status == "ok":
        item.detail = (item.detail or "") + "; the per-dtype split differs (the Hub counts raw elements)"


def check_hub_parameters(snapshot: Snapshot, weights: WeightsReport) -> CheckItem:
    found = _summary(snapshot)
    if isinstance(found, str):
        return _unavailable(found)
    total, per_dtype = found
    if total is None:
        return _unavailable("the Hub's safetensors summary has no total")
    figures = [
        ("elements", weights.elements, "naive element count (huggingface_hub semantics)"),
        ("parameters", weights.parameters, "logical parameters"),
    ]
    item = match_counts(_NAME, _TITLE, total, figures)
    if per_dtype:
        _per_dtype(item, per_dtype, weights)
    if snapshot.subfolder and item.status == "mismatch":
        item.detail = (item.detail or "") + (
            f"; note: hubmem read {snapshot.subfolder}/, the Hub's summary covers the files it chooses"
        )
    return item
