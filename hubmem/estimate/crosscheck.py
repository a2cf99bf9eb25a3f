"""Cross-checks: what the index, the Hub, config.json, the repo name and the file sizes claim, against
what the safetensors headers say (pure functions of the snapshot and the parsed headers; no I/O).

Checks (names are stable; see :data:`hubmem.schema.check.CHECK_NAMES`):

* ``index_total_size``: index ``metadata.total_size`` vs the sum of ``end - begin`` over every tensor;
* ``index_total_parameters``: ``metadata.total_parameters`` (index, else a single file's
  ``__metadata__``) vs the logical parameters and the raw element count (either may match);
* ``index_weight_map``: the index's ``weight_map`` vs the shards' headers: tensors the index names that
  no shard holds (missing), that another shard holds (misplaced), tensors a shard holds that the index
  does not name (extra), names held by more than one shard (duplicated);
* ``file_sizes``: each file's real size (the Hub's tree / ``X-Linked-Size`` / ``Content-Range``, or
  ``stat`` on disk) vs ``8 + N + data end`` (the largest ``data_offsets`` end of its header);
* ``hub_parameters``: the Hub's ``safetensors`` summary (per dtype and total) vs the header element
  counts (huggingface_hub semantics) and the logical parameters: says which one the Hub number matches;
* ``config_parameters``: :func:`hubmem.estimate.config_params.expected_parameters` vs the header
  parameters (the checkpoint total, MTP modules included, also matches);
* ``name_size``: sizes claimed by the repo name vs the model: ``8B`` / ``0.6B`` / ``1.5b`` / ``135M``
  (total, or the active / non-embedding count), ``A3B`` (active), ``8x7B`` (N experts of a ~M model:
  total between M and N x M), ``16E`` (16 routed experts). A claim states a rounded number, so it agrees
  when the actual figure lies within half a unit of its last digit or within
  :data:`NAME_TOLERANCE` of it, whichever is wider.
"""

from __future__ import annotations

import posixpath
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..parse.header import Tensor
from ..schema.architecture import Architecture
from ..schema.check import CheckItem, CheckReport
from ..schema.weights import WeightsReport
from ..snapshot import Snapshot
from .config_params import expected_parameters

NAME_TOLERANCE = 0.10  # relative slack of a size in a repo name (vendors round 7.6B to "7B", 32.5B to "30B")
MAX_EXAMPLES = 5
_UNITS = {"M": 10**6, "B": 10**9, "T": 10**12}
_PLAIN = re.compile(r"^(\d+(?:\.\d+)?)([MBT])$", re.I)
_ACTIVE = re.compile(r"^A(\d+(?:\.\d+)?)([MBT])$", re.I)
_EXPERTS_X = re.compile(r"^(\d+)x(\d+(?:\.\d+)?)([MBT])$", re.I)
_EXPERTS_E = re.compile(r"^(\d+)E$", re.I)


def cross_check(
    snapshot: Snapshot, tensors: list[Tensor], weights: WeightsReport, arch: Architecture
) -> CheckReport:
    """Every cross-check of one checkpoint, in :data:`CHECK_NAMES` order."""
    items = [
        check_index_total_size(snapshot, weights),
        check_index_total_parameters(snapshot, weights),
        check_index_weight_map(snapshot),
        check_file_sizes(snapshot, tensors),
        check_hub_parameters(snapshot, weights),
        check_config_parameters(snapshot, weights, arch),
        check_name_size(snapshot.repo_id, weights),
    ]
    return CheckReport.of(items)


# -- index metadata --------------------------------------------------------------------------------


def _index_metadata(snapshot: Snapshot) -> dict[str, Any] | None:
    if not isinstance(snapshot.index, dict):
        return None
    meta = snapshot.index.get("metadata")
    return meta if isinstance(meta, dict) else None


def _count(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int) and v >= 0:
        return v
    if isinstance(v, float) and v.is_integer() and v >= 0:
        return int(v)
    if isinstance(v, str) and v.strip().isdigit():
        return int(v.strip())
    return None


def check_index_total_size(snapshot: Snapshot, weights: WeightsReport) -> CheckItem:
    title = "index metadata.total_size vs the bytes the headers describe"
    name = "index_total_size"
    if snapshot.index is None:
        return CheckItem(
            name=name, status="unavailable", title=title, detail="single-file checkpoint: no index"
        )
    meta = _index_metadata(snapshot)
    claimed = _count(meta.get("total_size")) if meta is not None else None
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
    return _match_counts(
        name,
        title,
        claimed,
        [
            ("parameters", weights.parameters, "logical parameters"),
            ("elements", weights.elements, "raw element count"),
        ],
    )


def _match_counts(name: str, title: str, claimed: int, figures: list[tuple[str, int, str]]) -> CheckItem:
    """ok when ``claimed`` equals one of the figures (the first one listed is the reference)."""
    ref = figures[0][1]
    for key, value, words in figures:
        if value == claimed:
            return CheckItem(
                name=name,
                status="ok",
                title=title,
                expected=claimed,
                actual=value,
                difference=0,
                unit="parameters",
                matches=key,
                detail=f"matches the {words}",
            )
    shown = ", ".join(f"{words} {value:,}" for _, value, words in figures)
    return CheckItem(
        name=name,
        status="mismatch",
        title=title,
        expected=claimed,
        actual=ref,
        difference=ref - claimed,
        unit="parameters",
        detail=f"claims {claimed:,}; the headers give {shown}",
    )


# -- weight map ------------------------------------------------------------------------------------


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


# -- file sizes ------------------------------------------------------------------------------------


def check_file_sizes(snapshot: Snapshot, tensors: list[Tensor]) -> CheckItem:
    title = "real file sizes vs 8 + header length + end of the data"
    name = "file_sizes"
    ends: dict[str, int] = defaultdict(int)
    for t in tensors:
        ends[t.file] = max(ends[t.file], t.end)
    known = [f for f in snapshot.files if f.size is not None]
    if not known:
        return CheckItem(
            name=name,
            status="unavailable",
            title=title,
            detail="no file size was reported for any weight file",
        )
    expected_total = 0
    actual_total = 0
    bad: list[str] = []
    for f in known:
        assert f.size is not None
        expected = 8 + f.header_length + ends.get(f.path, 0)
        expected_total += expected
        actual_total += f.size
        if f.size != expected:
            bad.append(f"{f.path}: {f.size:,} bytes, headers describe {expected:,} ({f.size - expected:+,})")
    item = CheckItem(
        name=name,
        status="ok" if not bad else "mismatch",
        title=title,
        expected=actual_total,  # the claim: the sizes the Hub (or the disk) reports
        actual=expected_total,  # what the headers imply: 8 + N + data end
        difference=expected_total - actual_total,
        unit="bytes",
        examples=bad[:MAX_EXAMPLES],
    )
    scope = (
        f"{len(known)} of {len(snapshot.files)} files"
        if len(known) < len(snapshot.files)
        else (f"all {len(known)} files")
    )
    if bad:
        item.detail = (
            f"{len(bad)} of {len(known)} files differ from 8 + header + data (a truncated or padded file)"
        )
    else:
        item.detail = f"{scope} end exactly where their last tensor ends"
    return item


# -- the Hub's safetensors summary -----------------------------------------------------------------


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
        {str(k): c for k, v in params.items() if (c := _count(v)) is not None}
        if isinstance(params, dict)
        else {}
    )
    total = _count(summary.get("total"))
    if total is None and per_dtype:
        total = sum(per_dtype.values())
    if total is None:
        return CheckItem(
            name=name, status="unavailable", title=title, detail="the Hub's safetensors summary has no total"
        )
    item = _match_counts(
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


# -- config.json -----------------------------------------------------------------------------------


def check_config_parameters(snapshot: Snapshot, weights: WeightsReport, arch: Architecture) -> CheckItem:
    title = "parameters derived from config.json vs parameters counted from the headers"
    name = "config_parameters"
    config = snapshot.config if isinstance(snapshot.config, dict) else None
    if config is None:
        return CheckItem(name=name, status="unavailable", title=title, detail="no config.json")
    cp = expected_parameters(config, arch)
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


# -- the repo name ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SizeClaim:
    kind: str  # "size" (plain), "active", "experts_x" (N x M), "experts" (NE)
    token: str  # as written in the name
    value: int = 0  # parameters claimed (M of N x M)
    tolerance: int = 0  # absolute slack
    experts: int | None = None


def _amount(number: str, unit: str) -> tuple[int, int]:
    """ "1.5", "B" -> (1.5e9, slack): half a unit of the last stated digit, or NAME_TOLERANCE, the wider."""
    scale = _UNITS[unit.upper()]
    decimals = len(number.split(".", 1)[1]) if "." in number else 0
    value = round(float(number) * scale)
    half_digit = round(scale * 10**-decimals / 2)
    return value, max(half_digit, round(value * NAME_TOLERANCE))


def parse_size_claims(repo_id: str) -> list[SizeClaim]:
    """Sizes stated by the last part of a repo id (``meta-llama/Llama-3.1-8B`` -> 8B)."""
    name = repo_id.rstrip("/").rsplit("/", 1)[-1]
    claims: list[SizeClaim] = []
    for token in re.split(r"[-_\s]+", name):
        if m := _PLAIN.match(token):
            value, tol = _amount(m.group(1), m.group(2))
            claims.append(SizeClaim("size", token, value, tol))
        elif m := _ACTIVE.match(token):
            value, tol = _amount(m.group(1), m.group(2))
            claims.append(SizeClaim("active", token, value, tol))
        elif m := _EXPERTS_X.match(token):
            value, tol = _amount(m.group(2), m.group(3))
            claims.append(SizeClaim("experts_x", token, value, tol, experts=int(m.group(1))))
        elif m := _EXPERTS_E.match(token):
            claims.append(SizeClaim("experts", token, experts=int(m.group(1))))
    return claims


def human(n: int) -> str:
    for unit, scale in (("T", 10**12), ("B", 10**9), ("M", 10**6)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:,}"


def _figures(weights: WeightsReport) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(total-like figures, active-like figures) a name may refer to."""
    total = weights.parameters
    embed = weights.by_component.get("embeddings")
    mtp = weights.by_component.get("mtp")
    totals: list[tuple[str, int]] = [("total", total)]
    if mtp is not None and mtp.parameters:
        totals.append(("total without MTP", total - mtp.parameters))
    if embed is not None and embed.parameters:
        totals.append(("non-embedding", total - embed.parameters))
    actives: list[tuple[str, int]] = []
    moe = weights.moe
    if moe is not None and moe.active_parameters:
        actives.append(("active", moe.active_parameters))
        if moe.active_parameters_no_embedding and moe.active_parameters_no_embedding != moe.active_parameters:
            actives.append(("active without embedding", moe.active_parameters_no_embedding))
    return totals, actives


def _closest(claim: SizeClaim, figures: Iterable[tuple[str, int]]) -> tuple[str, int, bool]:
    best = min(figures, key=lambda f: abs(f[1] - claim.value))
    return best[0], best[1], abs(best[1] - claim.value) <= claim.tolerance


def check_name_size(repo_id: str, weights: WeightsReport) -> CheckItem:
    title = "sizes claimed by the repo name vs the model"
    name = "name_size"
    claims = parse_size_claims(repo_id)
    if not claims:
        return CheckItem(name=name, status="unavailable", title=title, detail="the repo name states no size")
    totals, actives = _figures(weights)
    moe = weights.moe
    verdicts: list[str] = []
    failed: list[str] = []
    matches: list[str] = []
    first_diff: int | None = None
    actual_words: list[str] = []
    for c in claims:
        if c.kind == "size":
            key, value, ok = _closest(c, totals + actives)
            words = f"{c.token} ~ {human(value)} {key}"
            diff = value - c.value
        elif c.kind == "active":
            if actives:
                key, value, ok = _closest(c, actives)
            else:
                key, value, ok = _closest(c, totals)
                key = f"{key} (not a mixture of experts)"
            words = f"{c.token} ~ {human(value)} {key}"
            diff = value - c.value
        elif c.kind == "experts_x":
            assert c.experts is not None
            total = weights.parameters
            low, high = c.value - c.tolerance, c.experts * c.value + c.tolerance * c.experts
            ok = low <= total <= high
            key, value, diff = "total", total, 0 if ok else total - (high if total > high else low)
            words = f"{c.token}: total {human(total)} within {human(low)}..{human(high)}"
            if moe is not None and moe.num_experts != c.experts:
                ok = False
                words += f", but {moe.num_experts} routed experts"
            elif moe is None:
                ok = False
                words += ", but no routed experts were found"
        else:  # experts
            n = moe.num_experts if moe is not None else 0
            ok = n == c.experts
            key, value, diff = "experts", n, n - (c.experts or 0)
            words = f"{c.token}: {n} routed experts"
        verdicts.append(("ok " if ok else "MISMATCH ") + words)
        actual_words.append(f"{human(value)} {key}" if c.kind != "experts" else f"{value} experts")
        if ok:
            matches.append(key)
        else:
            failed.append(c.token)
            if first_diff is None:
                first_diff = diff
    return CheckItem(
        name=name,
        status="mismatch" if failed else "ok",
        title=title,
        expected=" ".join(c.token for c in claims),
        actual=", ".join(actual_words),
        difference=first_diff,
        unit="parameters",
        matches=", ".join(matches) if matches and not failed else None,
        detail="; ".join(verdicts)
        + f" (tolerance: half a unit of the last digit or {NAME_TOLERANCE:.0%}, the wider)",
    )
