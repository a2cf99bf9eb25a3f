"""Input of ``hubmem scan``: repo ids one per line, optional ``@revision``; blank lines and ``#`` comments
are ignored."""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

_INLINE_COMMENT = re.compile(r"\s+#.*$")


class Target(msgspec.Struct, frozen=True):
    repo_id: str
    revision: str
    line: int = 0  # line number in the input (1-based), for messages
    commit: str | None = None  # the commit the revision points at, when a listing said so (read at it)
    last_modified: str | None = None  # the listing's lastModified (ISO 8601)

    @property
    def key(self) -> tuple[str, str]:
        return (self.repo_id, self.revision)


def parse_targets(lines: Iterable[str], *, default_revision: str = "main") -> list[Target]:
    """``org/name``, ``org/name@rev`` one per line; ``#`` comments (whole line or after a space) and
    blank lines are ignored; a repeated (repo, revision) is kept once. Ids are validated later, per
    row, so one bad line becomes an ``invalid_repo_id`` row instead of stopping the scan."""
    seen: set[tuple[str, str]] = set()
    out: list[Target] = []
    for number, raw in enumerate(lines, 1):
        text = _INLINE_COMMENT.sub("", raw.strip())
        if not text or text.startswith("#"):
            continue
        repo_id, sep, revision = text.partition("@")
        target = Target(
            repo_id.strip(), revision.strip() if sep and revision.strip() else default_revision, number
        )
        if target.key not in seen:
            seen.add(target.key)
            out.append(target)
    return out
