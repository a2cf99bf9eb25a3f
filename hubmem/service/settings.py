"""Service settings (all limits in one place)."""

from __future__ import annotations

import msgspec


class Settings(msgspec.Struct, frozen=True):
    # the Hub to read from; None = huggingface_hub.constants.ENDPOINT (HF_ENDPOINT)
    endpoint: str | None = None
    # token for callers who send none (``--use-server-token``); None = such callers are anonymous upstream
    server_token: str | None = None
    cache_entries: int = 2048  # report LRU: entry cap
    cache_bytes: int = 256 * 1024 * 1024  # report LRU: cap on the summed size of the cached JSON
    snapshot_entries: int = 64  # snapshot LRU (config + headers of one repo@commit): entry cap
    snapshot_bytes: int = 512 * 1024 * 1024  # snapshot LRU: cap on their estimated in-memory size
    max_builds: int = 4  # report builds (parse + estimate, CPU) running at once in worker threads
    resolve_ttl: float = 60.0  # seconds a revision -> commit resolution (and access check) is trusted
    upstream_timeout: float = 60.0  # seconds for one whole upstream analysis before 504
    max_upstream: int = 32  # upstream analyses running at once (all requests together)
    scan_max_repos: int = 100  # repo ids per POST /v1/scan
    scan_concurrency: int = 8  # analyses at once within one scan
    client_max_size: int = 64 * 1024  # request body bytes
    header_timeout: float = 15.0  # seconds to send a request's line and headers (then the connection closes)
    body_timeout: float = 15.0  # seconds to send a request's body (408)
    # the budget of one report build, checked before it takes a build slot (422 "too_large"): tensors in
    # the headers, and the snapshot's estimated memory (snapshot_bytes) for the header bytes
    max_report_tensors: int = 1_000_000
    default_retry_after: int = 60  # Retry-After when the Hub rate-limited us without saying for how long
    # the on-disk, commit-keyed header cache (hubmem.fetch.cache.store), shared with other service processes
    # and the CLI; None = none (each process keeps only its in-memory snapshots)
    header_cache: str | None = None
    catalog: str | None = (
        None  # the catalog database for GET /v1/catalog and /catalog (SQLite or postgresql://)
    )
