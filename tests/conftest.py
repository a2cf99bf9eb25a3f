"""Shared pytest fixtures. Keep this file small and generic; area-specific fixtures live in test files."""

from __future__ import annotations

import os

# huggingface_hub freezes these at import: set them before anything imports it.
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")  # the fake Hub does not speak the Xet protocol
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hubmem.fakehub.server import FakeHub
from hubmem.fakehub.thread import HubThread


@pytest.fixture
def make_fake_hub() -> Iterator[Callable[..., FakeHub]]:
    """Factory: ``make_fake_hub(fixtures_dir=None, **FakeHub kwargs)`` starts a fake Hub on free ports in a
    background thread (usable from sync and async tests alike) and stops it after the test."""
    runners: list[HubThread] = []

    def make(fixtures_dir: str | Path | None = None, **kwargs: Any) -> FakeHub:
        runner = HubThread(fixtures_dir, **kwargs)
        runners.append(runner)
        return runner.start()

    yield make
    for runner in runners:
        runner.stop()


@pytest.fixture
def fake_hub(make_fake_hub: Callable[..., FakeHub]) -> FakeHub:
    """A fake Hub over the repository's fixtures/ (or $HUBMEM_FIXTURES). Handle: ``.endpoint``, ``.cdn_url``,
    ``.log`` (RequestLog), ``.set_faults(...)``, ``.inject(...)``, ``.clear_faults()``, ``.options``."""
    return make_fake_hub()
