"""``hubmem catalog export``: the current rows as JSONL (each row's stored line, exactly as ``hubmem scan -o``
writes it), CSV (the scan's summary columns, as ``hubmem scan --csv`` writes them) or Parquet (the same
columns, through pyarrow: the optional extra ``parquet``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Literal

from hubmem.catalog.dialect import Database, open_database
from hubmem.catalog.tables import CURRENT
from hubmem.errors import CatalogError
from hubmem.schema.scan import SUMMARY_COLUMNS, ScanRow, csv_line, summary_row

ExportFormat = Literal["jsonl", "csv", "parquet"]
_BATCH = 500


def stored_lines(db: Database, *, history: bool = False) -> Iterator[str]:
    """Each row's JSONL line, by repo, revision and commit."""
    where = "1 = 1" if history else CURRENT
    cursor = db.execute(
        f"SELECT r.row_json FROM reports r WHERE {where} ORDER BY r.repo_id, r.revision, r.commit_sha,"
        " r.options_hash"
    )
    while batch := cursor.fetchmany(_BATCH):
        for (line,) in batch:
            yield str(line)


def summaries(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        yield summary_row(ScanRow.model_validate_json(line))


def export_catalog(target: str, fmt: ExportFormat, out: BinaryIO | Path, *, history: bool = False) -> int:
    """Write the rows to ``out`` (a binary stream, or a path for Parquet); returns how many."""
    if fmt == "parquet" and not isinstance(out, Path):
        raise CatalogError("Parquet needs a file: -o catalog.parquet")
    db = open_database(target, read_only=True)
    try:
        lines = stored_lines(db, history=history)
        if fmt == "jsonl":
            return _write_jsonl(lines, out)
        if fmt == "csv":
            return _write_csv(lines, out)
        assert isinstance(out, Path)
        return _write_parquet(lines, out)
    except db.errors as exc:
        raise CatalogError(f"export failed: {exc}") from None
    finally:
        db.close()


def _stream(out: BinaryIO | Path) -> BinaryIO:
    return open(out, "wb") if isinstance(out, Path) else out  # closed by _close


def _close(out: BinaryIO | Path, stream: BinaryIO) -> None:
    if isinstance(out, Path):
        stream.close()
    else:
        stream.flush()


def _write_jsonl(lines: Iterator[str], out: BinaryIO | Path) -> int:
    stream, n = _stream(out), 0
    try:
        for line in lines:
            stream.write(line.encode() + b"\n")
            n += 1
    finally:
        _close(out, stream)
    return n


def _write_csv(lines: Iterator[str], out: BinaryIO | Path) -> int:
    stream, n = _stream(out), 0
    try:
        stream.write(csv_line(SUMMARY_COLUMNS))
        for summary in summaries(lines):
            stream.write(csv_line(summary[c] for c in SUMMARY_COLUMNS))
            n += 1
    finally:
        _close(out, stream)
    return n


def _write_parquet(lines: Iterator[str], out: Path) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise CatalogError("Parquet export needs pyarrow", hint="pip install 'hubmem[parquet]'") from None
    rows = list(summaries(lines))
    columns = {c: [r[c] for r in rows] for c in SUMMARY_COLUMNS}
    pq.write_table(pa.table(columns), out)
    return len(rows)
