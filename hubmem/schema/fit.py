"""Will it fit? (issue #4)."""

from __future__ import annotations

from .common import Model


class FitReport(Model):
    gpu: str
    gpus: int = 1
    fits: bool
