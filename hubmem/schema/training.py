"""Training memory section (projected). Issue #4 deepens this."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .common import MemoryItem, Model


class TrainingOptions(Model):
    method: Literal["full", "lora", "qlora"] = "full"
    optimizer: Literal["adamw", "adamw-fp32", "adamw-bf16", "sgd", "adamw-8bit", "adafactor"] = "adamw"
    gpus: int = Field(default=1, ge=1)


class TrainingReport(Model):
    basis: Literal["projected"] = "projected"
    method: str
    optimizer: str
    gpus: int = 1
    trainable_parameters: int
    frozen_parameters: int = 0
    model_states_bytes: int  # weights + gradients + optimizer states, per GPU
    per_gpu_bytes: int  # everything counted, per GPU
    breakdown: list[MemoryItem] = []
    assumptions: list[str] = []
