"""The report: one schema for the CLI's --json, the Python API and the HTTP service."""

from typing import Literal

from pydantic import Field

from hubmem.schema.architecture import Architecture
from hubmem.schema.check import CheckReport
from hubmem.schema.common import Model
from hubmem.schema.engines import EngineReport
from hubmem.schema.fit import FitReport, GPUFitRow, MemoryCurve
from hubmem.schema.kv import KVCacheReport
from hubmem.schema.training import TrainingReport
from hubmem.schema.weights import WeightsReport

SCHEMA_VERSION = 1


class FetchInfo(Model):
    requests: int = 0
    bytes_received: int = 0
    round_trips: int = 0
    cache_hits: int = 0
    seconds: float | None = None


class Report(Model):
    schema_version: int = SCHEMA_VERSION
    repo_id: str
    revision: str
    commit: str | None  # the sha every file was read at
    source: Literal["hub", "local", "cache"] = "hub"
    endpoint: str | None = None
    subfolder: str | None = None
    architecture: Architecture
    weights: WeightsReport
    kv_cache: KVCacheReport | None = None
    engine: EngineReport | None = None  # the engine view (--engine vllm / llama.cpp)
    training: TrainingReport | None = None
    fit: FitReport | None = None
    fit_scenarios: list[FitReport] = Field(
        default_factory=list
    )  # the verdict for 1, 2, 4, 8 GPUs of the kind
    curve: MemoryCurve | None = None  # curve=true: memory against context (the web page's plot)
    gpu_table: list[GPUFitRow] = Field(default_factory=list)  # curve=true: every catalog GPU at the context
    check: CheckReport | None = None
    fetch: FetchInfo = FetchInfo()
    warnings: list[str] = Field(default_factory=list)
