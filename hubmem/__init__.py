"""hubmem: exact weight bytes and projected KV-cache / training memory of Hugging Face models,
read from config.json and safetensors headers only (never the weights).

    >>> import hubmem
    >>> report = hubmem.analyze("meta-llama/Llama-3.1-8B")            # sync
    >>> report = await hubmem.analyze_async("Qwen/Qwen3-8B", hubmem.Options(revision="main"))
    >>> report.weights.total_bytes, report.kv_cache.bytes_per_token
"""

from __future__ import annotations

from hubmem._version import __version__
from hubmem.errors import (
    ConfigError,
    CorruptHeaderError,
    GatedRepoError,
    HubmemError,
    InvalidRepoIdError,
    NetworkError,
    NoSafetensorsError,
    OfflineError,
    RateLimitedError,
    RepoNotFoundError,
    RevisionNotFoundError,
    UnauthorizedError,
)
from hubmem.fetch.http.client import HubClient
from hubmem.pipeline import analyze, analyze_async, build_report
from hubmem.schema.kv import KVOptions
from hubmem.schema.options import Options
from hubmem.schema.report import Report
from hubmem.schema.training import TrainingOptions

__all__ = [
    "ConfigError",
    "CorruptHeaderError",
    "GatedRepoError",
    "HubClient",
    "HubmemError",
    "InvalidRepoIdError",
    "KVOptions",
    "NetworkError",
    "NoSafetensorsError",
    "OfflineError",
    "Options",
    "RateLimitedError",
    "RepoNotFoundError",
    "Report",
    "RevisionNotFoundError",
    "TrainingOptions",
    "UnauthorizedError",
    "__version__",
    "analyze",
    "analyze_async",
    "build_report",
]
