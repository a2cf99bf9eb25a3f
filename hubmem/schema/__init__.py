"""Pydantic models of every report and option (one schema for CLI, API and service)."""

from hubmem.schema.architecture import Architecture
from hubmem.schema.check import CheckItem, CheckReport
from hubmem.schema.common import Basis, MemoryItem
from hubmem.schema.fit import FitReport
from hubmem.schema.kv import KVCacheReport, KVOptions
from hubmem.schema.options import Options
from hubmem.schema.report import Report
from hubmem.schema.training import TrainingOptions, TrainingReport
from hubmem.schema.weights import WeightsReport

__all__ = [
    "Architecture",
    "Basis",
    "CheckItem",
    "CheckReport",
    "FitReport",
    "KVCacheReport",
    "KVOptions",
    "MemoryItem",
    "Options",
    "Report",
    "TrainingOptions",
    "TrainingReport",
    "WeightsReport",
]
