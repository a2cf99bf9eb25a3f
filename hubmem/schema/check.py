"""Cross-checks of a checkpoint against what is reported about it (issue #5)."""

from __future__ import annotations

from typing import Literal

from .common import Model


class CheckItem(Model):
    name: str
    status: Literal["ok", "mismatch", "unavailable"]
    expected: int | str | None = None
    actual: int | str | None = None
    difference: int | None = None
    detail: str | None = None


class CheckReport(Model):
    ok: bool
    items: list[CheckItem] = []
