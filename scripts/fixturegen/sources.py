"""Where inputs come from: the corpus SOURCE.txt lines, and public figures found elsewhere (cited)."""

from __future__ import annotations

import re
from pathlib import Path

CORPUS = Path("/work/shared/corpus")


def source_lines(source_txt: Path) -> dict[str, str]:
    """Map file name -> its provenance in a corpus SOURCE.txt ("name<TAB>size<TAB>sha" + indented lines)."""
    out: dict[str, str] = {}
    if not source_txt.exists():
        return out
    current = None
    for line in source_txt.read_text().splitlines():
        m = re.match(r"^(\S[^\t]*)\t(\d+) bytes\tsha256=([0-9a-f]+)", line)
        if m:
            current = m.group(1)
            out[current] = f"{m.group(2)} bytes, sha256 {m.group(3)}"
        elif current and line.startswith("\t"):
            out[current] += "; " + line.strip()
    return out


def corpus_file(repo_dir: str, name: str) -> bytes | None:
    p = CORPUS / repo_dir / name
    return p.read_bytes() if p.exists() else None
