"""The results sections of scripts/BENCHMARKS.md and scripts/VALIDATION.md, shared by every script that
writes one (``--write``).

A script owns one section of one document, fenced by two HTML comments (invisible in rendered markdown)
named after the script::

    <!-- bench.repos:begin -->
    ## Per-repo fetch cost
    ...
    <!-- bench.repos:end -->

:func:`write_section` replaces what lies between the markers (the markers stay), or appends a new fenced
section when the document has none yet. Everything outside the markers is kept byte for byte, and the
document is read right before it is written, so scripts can refresh their own sections independently.
"""

from __future__ import annotations

from pathlib import Path

from scripts import ROOT

BENCHMARKS = ROOT / "scripts" / "BENCHMARKS.md"
VALIDATION = ROOT / "scripts" / "VALIDATION.md"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def _span(text: str, name: str) -> tuple[int, int] | None:
    """(start, end) of the fenced block of ``name`` in ``text``, markers included; None when absent."""
    begin, end = markers(name)
    if text.count(begin) != text.count(end) or text.count(begin) > 1:
        raise ValueError(f"section {name!r}: expected one {begin} and one {end}")
    start = text.find(begin)
    if start == -1:
        return None
    stop = text.find(end, start)
    if stop == -1:
        raise ValueError(f"section {name!r}: {end} comes before {begin}")
    return start, stop + len(end)


def read_section(doc: Path, name: str) -> str | None:
    """The body of section ``name`` (between its markers), or None when the document has no such section."""
    text = doc.read_text() if doc.exists() else ""
    span = _span(text, name)
    if span is None:
        return None
    begin, end = markers(name)
    return text[span[0] + len(begin) + 1 : span[1] - len(end)]


def write_section(doc: Path, name: str, body: str, *, new_doc: str = "") -> None:
    """Put ``body`` (markdown, usually starting with its ``## `` heading) between the markers of ``name`` in
    ``doc``. A document that does not exist yet starts as ``new_doc``."""
    begin, end = markers(name)
    body = body if body.endswith("\n") else body + "\n"
    block = f"{begin}\n{body}{end}"
    text = doc.read_text() if doc.exists() else new_doc
    span = _span(text, name)
    if span is None:
        text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + block + "\n"
    else:
        text = text[: span[0]] + block + text[span[1] :]
    doc.write_text(text)
