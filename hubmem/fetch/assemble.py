"""The one way a snapshot is finished, whether it was read from the Hub or from disk: config.json must be
a JSON object, the companions that could be read become ``extra``, and the index may name only tensors
that the shard headers have (anything else is a warning, not an error)."""

from __future__ import annotations

from typing import Any

from hubmem.fetch.layout import Layout
from hubmem.snapshot import Snapshot


def finish_snapshot(
    snapshot: Snapshot,
    layout: Layout,
    config: Any,
    companions: list[Any],
    *,
    where: str,
    sizes: dict[str, int] | None = None,
) -> Snapshot:
    """Complete ``snapshot`` (its files, index and source fields set) with what was read for ``layout``:
    ``config`` (None when unreadable) and the value of each of ``layout.companions``. ``where`` says where
    config.json was looked for ("in the repo", "beside model.safetensors") when there is none; ``sizes``
    are the exact file sizes the listing gave (for the GGUF models and the weight files not read)."""
    warnings = snapshot.warnings
    snapshot.gguf = layout.gguf
    snapshot.sizes = {p: n for p, n in (sizes or {}).items() if p in set(layout.sized)}
    snapshot.unread = list(layout.unread)
    if layout.config_path is None and layout.gguf is None:
        warnings.append(f"no config.json {where}: architecture figures are unavailable")
    elif config is not None and not isinstance(config, dict):
        warnings.append(f"{layout.config_path} is not a JSON object; ignored")
        config = None
    snapshot.config = config
    snapshot.extra = {p: v for p, v in zip(layout.companions, companions, strict=True) if v is not None}
    if snapshot.index is not None:
        named: set[str] = set()
        for f in snapshot.files:
            named.update(f.tensor_names())  # set operations: 92k names in a few ms
        weight_map = snapshot.index.get("weight_map", {})
        missing = weight_map.keys() - named
        if missing:
            first = next(t for t in weight_map if t in missing)
            warnings.append(
                f"{layout.index_path} lists {len(missing)} tensors absent from the shard headers "
                f"(e.g. {first!r})"
            )
    return snapshot
