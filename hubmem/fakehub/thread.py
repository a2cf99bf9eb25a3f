"""Run a FakeHub on its own event loop in a background thread (CLI demo, benchmarks, sync tests)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hubmem.fakehub.server import FakeHub


class HubThread:
    """``hub = HubThread(fixtures).start()`` ... ``HubThread.stop()``; the FakeHub's controls and log are
    thread-safe, so the caller's thread may use them while the server runs."""

    def __init__(
        self,
        fixtures_dir: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        cdn_port: int = 0,
        **kwargs: Any,
    ) -> None:
        self.hub = FakeHub(fixtures_dir, **kwargs)
        self._addr = (host, port, cdn_port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 30.0) -> FakeHub:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="fakehub", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("fakehub did not start in time")
        if self._error is not None:
            raise self._error
        return self.hub

    def _run(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.hub.start(*self._addr))
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self.hub.stop())
            loop.close()

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
        self._thread = None


@contextmanager
def run_in_thread(fixtures_dir: str | Path | None = None, **kwargs: Any) -> Iterator[FakeHub]:
    """``with run_in_thread(fixtures_dir, latency=0.05) as hub: hub.endpoint`` (kwargs: see FakeHub,
    plus host/port/cdn_port)."""
    runner = HubThread(fixtures_dir, **kwargs)
    hub = runner.start()
    try:
        yield hub
    finally:
        runner.stop()
