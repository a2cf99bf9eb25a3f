"""Pydantic models of every report and option (one schema for CLI, API and service)."""

from .architecture import Architecture
from .check import CheckItem, CheckReport
from .common import Basis, MemoryItem
from .fit import FitReport
from .kv import KVCacheReport, KVOptions
from .options import Options
from .report import Report
from .training import TrainingOptions, TrainingReport
from .weights import WeightsReport

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
