"""The fetch stage: Hub repo -> :class:`hubmem.snapshot.Snapshot` (config.json + safetensors headers)."""

from __future__ import annotations

from hubmem.fetch.client import DEFAULT_FIRST_READ, HeaderRead, HubClient, HubResponse, HubState, Trace
from hubmem.fetch.errors import DisabledRepoError, EntryNotFoundError
from hubmem.fetch.layout import Layout, first_read_size, plan_layout
from hubmem.fetch.repo import fetch_snapshot

__all__ = [
    "DEFAULT_FIRST_READ",
    "DisabledRepoError",
    "EntryNotFoundError",
    "HeaderRead",
    "HubClient",
    "HubResponse",
    "HubState",
    "Layout",
    "Trace",
    "fetch_snapshot",
    "first_read_size",
    "plan_layout",
]
