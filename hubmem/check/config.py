"""Cross-check of the parameters derived from config.json against those counted from the headers."""

from __future__ import annotations

from hubmem.check.common import MAX_EXAMPLES
from hubmem.estimate.params.formula import ConfigParams, expected_parameters
from hubmem.schema.architecture import Architecture
from hubmem.schema.check import CheckItem
from hubmem.schema.weights import WeightsReport
from hubmem.snapshot import Snapshot

_TITLE = "parameters derived from config.json vs parameters counted from the headers"
_NAME = "config_parameters"

Figure = tuple[str, int, str]  # (key, value, words)


def _targets(cp: ConfigParams) -> list[Figure]:
    """What the config formula predicts: the main model, and with the MTP module stored beside it."""
    assert cp.total is not None
    out = [("total", cp.total, f"the {cp.family} formula")]
    if cp.mtp:
        out.append(("checkpoint_total", cp.total + cp.mtp, f"the {cp.family} formula with the MTP module"))
    return out


def _figures(actual: int, buffers: int) -> list[Figure]:
    """What the headers hold: every parameter, and without stored buffers (position_ids, causal masks)."""
    out = [("parameters", actual, "")]
    if buffers:
        words = f" once the {buffers:,} stored buffer elements are set aside"
        out.append(("parameters without stored buffers", actual - buffers, words))
    return out


def _match(targets: list[Figure], figures: list[Figure], actual: int) -> CheckItem | None:
    for key, value, words in targets:
        for fkey, fvalue, fwords in figures:
            if value == fvalue:
                return CheckItem(
                    name=_NAME,
                    status="ok",
                    title=_TITLE,
                    expected=value,
                    actual=actual,
                    difference=actual - value,
                    unit="parameters",
                    matches=key if fkey == "parameters" else f"{key} ({fkey})",
                    detail=f"the headers hold exactly {words}'s parameters{fwords}",
                )
    return None


def _mismatch(cp: ConfigParams, comp: dict[str, int], actual: int, targets: list[Figure]) -> CheckItem:
    assert cp.total is not None
    buffers, head = comp.get("buffers", 0), comp.get("lm_head", 0)
    reasons: list[str] = []
    if head and not cp.components.get("lm_head") and actual - buffers - head in {v for _, v, _ in targets}:
        reasons.append(
            f"config.json ties lm_head to the embeddings but the checkpoint also stores it: "
            f"{head:,} parameters that loaders tie to the embeddings instead of loading"
        )
    summary = (
        f"{cp.family} formula: {cp.total:,}"
        + (f" (+ MTP {cp.mtp:,})" if cp.mtp else "")
        + f"; headers: {actual:,} logical parameters"
        + (f" ({buffers:,} of them stored buffers)" if buffers else "")
    )
    shown = [
        f"{k}: config {cp.components[k]:,}, headers {comp[k]:,}"
        for k in sorted(set(cp.components) & set(comp))
        if cp.components[k] != comp[k]
    ]
    return CheckItem(
        name=_NAME,
        status="mismatch",
        title=_TITLE,
        expected=cp.total,
        actual=actual,
        difference=actual - cp.total,
        unit="parameters",
        detail="; ".join([summary, *reasons, *cp.notes]),
        examples=shown[:MAX_EXAMPLES],
    )


def check_config_parameters(snapshot: Snapshot, weights: WeightsReport, arch: Architecture) -> CheckItem:
    if not isinstance(snapshot.config, dict):
        return CheckItem(name=_NAME, status="unavailable", title=_TITLE, detail="no config.json")
    cp = expected_parameters(arch)
    if cp.total is None:
        detail = "; ".join(cp.missing) or "no parameter formula for this config"
        return CheckItem(name=_NAME, status="unavailable", title=_TITLE, detail=detail)
    actual = weights.parameters
    if cp.missing:
        return CheckItem(
            name=_NAME,
            status="unavailable",
            title=_TITLE,
            expected=cp.total,
            actual=actual,
            difference=actual - cp.total,
            unit="parameters",
            detail="the config formula covers only part of the model: " + "; ".join(cp.missing),
        )
    comp = {k: v.parameters for k, v in weights.by_component.items()}
    targets = _targets(cp)
    matched = _match(targets, _figures(actual, comp.get("buffers", 0)), actual)
    return matched if matched is not None else _mismatch(cp, comp, actual, targets)
