"""scripts/results.py: the marked sections that the scripts' --write refreshes in scripts/BENCHMARKS.md and
scripts/VALIDATION.md (each script owns exactly one; the rest of the document is never touched)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import results

SECTIONS = [
    (results.BENCHMARKS, "bench.repos", "## Per-repo fetch cost\n"),
    (results.VALIDATION, "validate.transformers", "## Validation against transformers\n"),
    (results.VALIDATION, "validate.memory", "## Measured vs projected (scripts/validate/memory.py)\n"),
]


@pytest.mark.parametrize(("doc", "name", "heading"), SECTIONS, ids=[s[1] for s in SECTIONS])
def test_every_written_section_is_marked_once(doc: Path, name: str, heading: str) -> None:
    body = results.read_section(doc, name)
    assert body is not None and body.startswith(heading)


@pytest.mark.parametrize(("doc", "name", "heading"), SECTIONS, ids=[s[1] for s in SECTIONS])
def test_rewriting_a_section_with_its_own_body_changes_no_byte(
    doc: Path, name: str, heading: str, tmp_path: Path
) -> None:
    copy = tmp_path / doc.name
    copy.write_bytes(doc.read_bytes())
    body = results.read_section(copy, name)
    assert body is not None
    results.write_section(copy, name, body)
    assert copy.read_bytes() == doc.read_bytes()


def test_a_section_replaces_only_itself_and_a_new_one_is_appended(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    results.write_section(doc, "a", "## A\n\none\n", new_doc="# Doc\n")
    results.write_section(doc, "b", "## B\n\ntwo")  # a missing final newline is added
    results.write_section(doc, "a", "## A\n\nthree\n")
    assert doc.read_text() == (
        "# Doc\n\n<!-- a:begin -->\n## A\n\nthree\n<!-- a:end -->\n"
        "\n<!-- b:begin -->\n## B\n\ntwo\n<!-- b:end -->\n"
    )
    assert results.read_section(doc, "b") == "## B\n\ntwo\n"
    assert results.read_section(doc, "c") is None


@pytest.mark.parametrize(
    "text",
    [
        "<!-- a:begin -->\nx\n<!-- a:begin -->\n<!-- a:end -->\n",
        "<!-- a:end -->\n<!-- a:begin -->\n",
        "<!-- a:begin -->\n",
    ],
)
def test_broken_markers_are_refused_not_guessed(text: str, tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(text)
    with pytest.raises(ValueError):
        results.write_section(doc, "a", "y\n")
    assert doc.read_text() == text
