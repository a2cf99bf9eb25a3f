"""Cross-check of the parameters derived from config.json against those counted from the headers."""

from __future__ import annotations

from hubmem.check.common import MAX_EXAMPLES
from hubmem.estimate.params.formula import expected_parameters
from hubmem.schema.architecture import Architecture
from hubmem.schema.check import CheckItem
from hubmem.schema.weights import WeightsReport
from hubmem.snapshot import Snapshot


def check_config_parameters(snapshot: Snapshot, weights: WeightsReport, arch: Architecture) -> CheckItem:
    title = "parameters derived from config.json vs parameters counted from the headers"
    name = "config_parameters"
    config = snapshot.config if isinstance(snapshot.config, dict) else None
    if config is None:
        return CheckItem(name=name, status="unavailable", title=title, detail="no config.json")
    cp = expected_parameters(arch)
    if cp.total is None:
        return CheckItem(
            name=name,
            status="unavailable",
            title=title,
            detail="; ".join(cp.missing) or "no parameter formula for this config",
        )
    actual = weights.parameters
    if cp.missing:
        return CheckItem(
            name=name,
            status="unavailable",
            title=title,
            expected=cp.total,
            actual=actual,
            difference=actual - cp.total,
            unit="parameters",
            detail="the config formula covers only part of the model: " + "; ".join(cp.missing),
        )
    comp = {k: v.parameters for k, v in weights.by_component.items()}
    buffers = comp.get("buffers", 0)  # position_ids, causal masks ... stored but not parameters
    targets = [("total", cp.total, f"the {cp.family} formula")]
    if cp.mtp:
        targets.append(
            ("checkpoint_total", cp.total + cp.mtp, f"the {cp.family} formula with the MTP module")
        )
    figures = [("parameters", actual, "")]
    if buffers:
        figures.append(
            (
                "parameters without stored buffers",
                actual - buffers,
                f" once the {buffers:,} stored buffer elements are set aside",
            )
        )
    for key, value, words in targets:
        for fkey, fvalue, fwords in figures:
            if value == fvalue:
                return CheckItem(
                    name=name,
                    status="ok",
                    title=title,
                    expected=value,
                    actual=actual,
                    difference=actual - value,
                    unit="parameters",
                    matches=key if fkey == "parameters" else f"{key} ({fkey})",
                    detail=f"the headers hold exactly {words}'s parameters{fwords}",
                )
    reasons: list[str] = []
    head = comp.get("lm_head", 0)
    if head and not cp.components.get("lm_head") and actual - buffers - head in {v for _, v, _ in targets}:
        reasons.append(
            f"config.json ties lm_head to the embeddings but the checkpoint also stores it: "
            f"{head:,} parameters that loaders tie to the embeddings instead of loading"
        )
    item = CheckItem(
        name=name,
        status="mismatch",
        title=title,
        expected=cp.total,
        actual=actual,
        difference=actual - cp.total,
        unit="parameters",
        detail="; ".join(
            [
                f"{cp.family} formula: {cp.total:,}"
                + (f" (+ MTP {cp.mtp:,})" if cp.mtp else "")
                + f"; headers: {actual:,} logical parameters"
                + (f" ({buffers:,} of them stored buffers)" if buffers else ""),
                *reasons,
                *cp.notes,
            ]
        ),
    )
    shown = [
        f"{k}: config {cp.components[k]:,}, headers {comp[k]:,}"
        for k in sorted(set(cp.components) & set(comp))
        if cp.components[k] != comp[k]
    ]
    item.examples = shown[:MAX_EXAMPLES]
    return item
