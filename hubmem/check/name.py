"""Cross-check of the sizes claimed by the repo name (``8B``, ``A3B``, ``8x7B``, ``16E``) vs the model."""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

from hubmem.schema.check import CheckItem
from hubmem.schema.weights import WeightsReport

NAME_TOLERANCE = 0.10  # relative slack of a size in a repo name (vendors round 7.6B to "7B", 32.5B to "30B")
_UNITS = {"M": 10**6, "B": 10**9, "T": 10**12}
_PLAIN = re.compile(r"^(\d+(?:\.\d+)?)([MBT])$", re.I)
_ACTIVE = re.compile(r"^A(\d+(?:\.\d+)?)([MBT])$", re.I)
_EXPERTS_X = re.compile(r"^(\d+)x(\d+(?:\.\d+)?)([MBT])$", re.I)
_EXPERTS_E = re.compile(r"^(\d+)E$", re.I)


class SizeClaim(msgspec.Struct, frozen=True):
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


Figures = list[tuple[str, int]]


def _verdict(
    c: SizeClaim, weights: WeightsReport, totals: Figures, actives: Figures
) -> tuple[bool, str, int, int, str]:
    """(agrees, figure key, figure value, difference, words) for one claim."""
    if c.kind in ("size", "active"):
        pool = totals + actives if c.kind == "size" or not actives else actives
        key, value, ok = _closest(c, pool)
        if c.kind == "active" and not actives:
            key = f"{key} (not a mixture of experts)"
        return ok, key, value, value - c.value, f"{c.token} ~ {human(value)} {key}"
    moe = weights.moe
    if c.kind == "experts":
        n = moe.num_experts if moe is not None else 0
        return n == c.experts, "experts", n, n - (c.experts or 0), f"{c.token}: {n} routed experts"
    assert c.experts is not None  # experts_x: "8x7B"
    total = weights.parameters
    low, high = c.value - c.tolerance, c.experts * c.value + c.tolerance * c.experts
    ok = low <= total <= high
    diff = 0 if ok else total - (high if total > high else low)
    words = f"{c.token}: total {human(total)} within {human(low)}..{human(high)}"
    if moe is None:
        return False, "total", total, diff, words + ", but no routed experts were found"
    if moe.num_experts != c.experts:
        return False, "total", total, diff, words + f", but {moe.num_experts} routed experts"
    return ok, "total", total, diff, words


def check_name_size(repo_id: str, weights: WeightsReport) -> CheckItem:
    title = "sizes claimed by the repo name vs the model"
    name = "name_size"
    claims = parse_size_claims(repo_id)
    if not claims:
        return CheckItem(name=name, status="unavailable", title=title, detail="the repo name states no size")
    totals, actives = _figures(weights)
    verdicts: list[str] = []
    failed: list[str] = []
    matches: list[str] = []
    actual_words: list[str] = []
    first_diff: int | None = None
    for c in claims:
        ok, key, value, diff, words = _verdict(c, weights, totals, actives)
        verdicts.append(("ok " if ok else "MISMATCH ") + words)
        actual_words.append(f"{human(value)} {key}" if c.kind != "experts" else f"{value} experts")
        if ok:
            matches.append(key)
        else:
            failed.append(c.token)
            first_diff = diff if first_diff is None else first_diff
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
