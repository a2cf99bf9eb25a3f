"""hubmem: exact weight bytes and projected KV-cache / training memory of Hugging Face models,
read from config.json and safetensors headers only (never the weights).

    >>> import hubmem
    >>> report = hubmem.analyze("meta-llama/Llama-3.1-8B")            # sync
    >>> report = await hubmem.analyze_async("Qwen/Qwen3-8B", hubmem.Options(revision="main"))
    >>> report.weights.total_bytes, report.kv_cache.bytes_per_token
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hubmem._version import __version__

if TYPE_CHECKING:
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

# the public names, imported on first use: ``import hubmem.cli.app`` (``hubmem --help``) or any other
# ``hubmem.x`` does not import the pipeline, the HTTP client and huggingface_hub's errors with it
_LAZY = {
    "ConfigError": "hubmem.errors",
    "CorruptHeaderError": "hubmem.errors",
    "GatedRepoError": "hubmem.errors",
    "HubmemError": "hubmem.errors",
    "InvalidRepoIdError": "hubmem.errors",
    "NetworkError": "hubmem.errors",
    "NoSafetensorsError": "hubmem.errors",
    "OfflineError": "hubmem.errors",
    "RateLimitedError": "hubmem.errors",
    "RepoNotFoundError": "hubmem.errors",
    "RevisionNotFoundError": "hubmem.errors",
    "UnauthorizedError": "hubmem.errors",
    "HubClient": "hubmem.fetch.http.client",
    "analyze": "hubmem.pipeline",
    "analyze_async": "hubmem.pipeline",
    "build_report": "hubmem.pipeline",
    "KVOptions": "hubmem.schema.kv",
    "Options": "hubmem.schema.options",
    "Report": "hubmem.schema.report",
    "TrainingOptions": "hubmem.schema.training",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hubmem' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


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
