"""Shared pieces of the cross-checks (:mod:`hubmem.check.crosscheck`): comparing one claimed count with
the figures counted from the headers (a count read from JSON: ``estimate.weights.report.as_count``)."""

from __future__ import annotations

from hubmem.schema.check import CheckItem

MAX_EXAMPLES = 5


def match_counts(name: str, title: str, claimed: int, figures: list[tuple[str, int, str]]) -> CheckItem:
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
