"""Shared pytest fixtures. Keep this file small and generic; area-specific fixtures live in test files,
shared helpers (fixture paths, sample repos) in tests/support/."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

# Nothing the suite runs may read or write the user's Hugging Face home (hub cache, saved token) or hubmem's
# own header cache: all point into a throw-away folder of this process (each xdist worker has its own), and
# every subprocess a test starts inherits that. huggingface_hub freezes these at import, so they are set
# here, before anything imports it; explicit cache_dir= / env= arguments in tests still win.
SESSION_HOME = Path(tempfile.mkdtemp(prefix="hubmem-tests-"))
atexit.register(shutil.rmtree, SESSION_HOME, ignore_errors=True)
os.environ["HF_HOME"] = str(SESSION_HOME / "hf-home")
os.environ["HF_HUB_CACHE"] = str(SESSION_HOME / "hf-home" / "hub")
os.environ.pop("HF_TOKEN_PATH", None)  # else a saved token outside HF_HOME would still be read
os.environ["HUBMEM_CACHE"] = str(SESSION_HOME / "hubmem-cache")
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")  # the fake Hub does not speak the Xet protocol
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

import huggingface_hub.constants  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

from hubmem.fakehub.server import FakeHub  # noqa: E402
from hubmem.fakehub.thread import HubThread  # noqa: E402

# Property tests (tests/test_properties_*.py, tests/test_gguf_reader.py) draw the same examples on every run
# (derandomize: CI is deterministic, a failure reproduces), store nothing, and have no per-example deadline
# (the machines are shared); each test bounds its own max_examples so that it takes at most a few seconds.
settings.register_profile(
    "hubmem",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "hubmem"))


@pytest.fixture(scope="session", autouse=True)
def isolated_hf_home() -> Path:
    """Fails the session early if huggingface_hub was imported before the folder above was set."""
    assert Path(huggingface_hub.constants.HF_HUB_CACHE).is_relative_to(SESSION_HOME), (
        f"huggingface_hub caches in {huggingface_hub.constants.HF_HUB_CACHE}, not under {SESSION_HOME}"
    )
    return SESSION_HOME


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
