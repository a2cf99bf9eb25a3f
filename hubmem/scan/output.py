"""Output of ``hubmem scan``: JSONL rows and CSV lines written whole (torn-line safe), and the compaction
that resume runs on an earlier output."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import msgspec

from hubmem.formats.json_reader import MAX_DEPTH, load_json
from hubmem.schema.scan import SUMMARY_COLUMNS, ScanRow, csv_line, summary_row

FsyncPolicy = Literal["row", "interval", "none"]


class LineWriter:
    """Append whole lines to a file descriptor: one ``os.write`` per line (looped only if the kernel
    accepts part of it), fsync per policy."""

    def __init__(self, fd: int, *, fsync: FsyncPolicy = "interval", interval: float = 1.0, owns: bool = True):
        self.fd = fd
        self.fsync_policy = fsync
        self.interval = interval
        self.owns = owns
        self._last_sync = time.monotonic()
        self._dirty = False
        self.lines = 0

    @classmethod
    def open(cls, path: Path, *, truncate: bool = False, fsync: FsyncPolicy = "interval") -> LineWriter:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if truncate else 0)
        return cls(os.open(path, flags, 0o644), fsync=fsync)

    def write(self, line: bytes) -> None:
        view = memoryview(line)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        self.lines += 1
        self._dirty = True
        if self.fsync_policy == "row" or (
            self.fsync_policy == "interval" and time.monotonic() - self._last_sync >= self.interval
        ):
            self.sync()

    def sync(self) -> None:
        if self._dirty and self.fsync_policy != "none":
            with contextlib.suppress(OSError):  # e.g. a pipe
                os.fsync(self.fd)
        self._dirty = False
        self._last_sync = time.monotonic()

    def close(self) -> None:
        self.sync()
        if self.owns:
            os.close(self.fd)


def ok_line(row: ScanRow, report_json: str) -> bytes:
    head = {
        "repo_id": row.repo_id,
        "revision": row.revision,
        "ok": True,
        "commit": row.commit,
        "seconds": row.seconds,
        "requests": row.requests,
    }
    return (json.dumps(head, separators=(",", ":"))[:-1] + ',"report":' + report_json + "}\n").encode()


def error_line(row: ScanRow) -> bytes:
    assert row.error is not None
    out: dict[str, Any] = {"repo_id": row.repo_id, "revision": row.revision, "ok": False}
    if row.commit is not None:  # the listing's commit (a failure of a listed repo)
        out["commit"] = row.commit
    out["error"] = row.error.model_dump(exclude_none=True)
    out["seconds"] = row.seconds
    return (json.dumps(out, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


# -- resume ------------------------------------------------------------------------------------------------


class Existing(msgspec.Struct):
    """What an earlier run left in the output."""

    done: dict[tuple[str, str], str | None] = {}  # ok (repo, rev) -> commit
    kept: int = 0
    dropped_failed: int = 0
    dropped_torn: int = 0
    dropped_bad: int = 0
    dropped_superseded: int = 0


def _iter_lines(path: Path) -> Iterator[tuple[bytes, bool]]:
    """(line, complete) for every line of the file; only the last one may be incomplete."""
    with open(path, "rb") as fh:
        for line in fh:
            yield line, line.endswith(b"\n")


def _row_head(line: bytes) -> dict[str, Any] | None:
    """A row of an earlier run, read by the bounded JSON reader (a report nests the config objects it
    quotes, hence twice the reader's depth); None when it is not a readable row."""
    try:
        row = load_json(line, max_depth=2 * MAX_DEPTH)
    except ValueError:
        return None
    if (
        not isinstance(row, dict)
        or not isinstance(row.get("repo_id"), str)
        or not isinstance(row.get("ok"), bool)
    ):
        return None
    if not isinstance(row.get("revision"), str):
        return None
    return row


def compact_output(path: Path, *, csv_path: Path | None = None) -> Existing:
    """Keep, per (repo, revision), the last complete ``ok`` row; drop failed rows, a torn last line and
    unparsable lines. Rewrites the file (temporary file + atomic rename) only when something is dropped;
    rewrites ``csv_path`` from the kept rows when given."""
    if not path.exists():
        if csv_path is not None:
            _rewrite_csv(csv_path, [])
        return Existing()
    found, keep = _survey(path)
    if found.dropped_torn + found.dropped_bad + found.dropped_failed + found.dropped_superseded > 0:
        tmp = path.with_name(path.name + ".compact.tmp")
        with open(tmp, "wb") as out:
            for i, (line, complete) in enumerate(_iter_lines(path)):
                if complete and i in keep:
                    out.write(line)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    if csv_path is not None:  # after compaction every line is a complete ok row
        _rewrite_csv(csv_path, [line for line, complete in _iter_lines(path) if complete])
    return found


def _survey(path: Path) -> tuple[Existing, set[int]]:
    """What the output holds, and the numbers of the lines to keep."""
    found = Existing()
    last: dict[tuple[str, str], int] = {}
    for n, (line, complete) in enumerate(_iter_lines(path)):
        if not complete:
            found.dropped_torn += 1
            continue
        row = _row_head(line)
        if row is None:
            found.dropped_bad += 1
        elif not row["ok"]:
            found.dropped_failed += 1
        else:
            key = (row["repo_id"], row["revision"])
            if key in last:
                found.dropped_superseded += 1
            last[key] = n
            commit = row.get("commit")
            found.done[key] = commit if isinstance(commit, str) else None
    keep = set(last.values())
    found.kept = len(keep)
    return found, keep


def _rewrite_csv(csv_path: Path, jsonl_lines: list[bytes]) -> None:
    tmp = csv_path.with_name(csv_path.name + ".tmp")
    with open(tmp, "wb") as out:
        out.write(csv_line(SUMMARY_COLUMNS))
        for line in jsonl_lines:
            try:
                row = ScanRow.model_validate_json(line)
            except ValueError:
                continue
            summary = summary_row(row)
            out.write(csv_line(summary[c] for c in SUMMARY_COLUMNS))
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, csv_path)
