"""Cross-check of the file sizes: each file's real size vs ``8 + N + data end`` from its header."""

from __future__ import annotations

from collections import defaultdict

from hubmem.check.common import MAX_EXAMPLES
from hubmem.formats.safetensors import Tensor
from hubmem.schema.check import CheckItem
from hubmem.snapshot import Snapshot


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
