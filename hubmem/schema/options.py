"""What a caller can ask for, shared by the CLI, the Python API and the service."""

from __future__ import annotations

from pydantic import Field

from .common import Model
from .kv import KVOptions
from .training import TrainingOptions


class Options(Model):
    revision: str = "main"
    subfolder: str | None = None
    kv: KVOptions = Field(default_factory=KVOptions)
    training: TrainingOptions = Field(default_factory=TrainingOptions)
