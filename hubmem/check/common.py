"""Shared pieces of the cross-checks (:mod:`hubmem.check.crosscheck`): comparing one claimed count with
the figures counted from the headers (a count read from JSON: ``estimate.weights.report.as_count``)."""

from __future__ import annotations

from hubmem.schema.check import CHECK_NAMES, CheckItem, CheckReport

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


def report_of(items: list[CheckItem], why: str) -> CheckReport:
    """Every check of :data:`CHECK_NAMES`, in that order: ``items``, and the checks that do not apply to this
    checkpoint as unavailable with ``why`` (so every report and scan row has the same columns)."""
    given = {i.name: i for i in items}
    return CheckReport.of(
        [given.get(name) or CheckItem(name=name, status="unavailable", detail=why) for name in CHECK_NAMES]
    )
