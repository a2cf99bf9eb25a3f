"""The web page in a real headless Chromium, driven over the Chrome DevTools Protocol (aiohttp websocket):
type a repo id, press Enter, read the numbers the page shows.

Needs Debian's ``chromium`` (``apt-get install -y chromium``); skipped with a reason when it is absent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from hubmem.fakehub.fixtures.layout import NOGATE_TOKEN, READER_TOKEN
from hubmem.fakehub.server import FakeHub
from hubmem.service.app import create_app
from hubmem.service.backend import HubBackend
from hubmem.service.settings import Settings

from support.paths import FIXTURES, repo_meta

pytestmark = pytest.mark.e2e

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    env = os.environ.get("HUBMEM_CHROMIUM")
    if env:
        return env
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


class CDP:
    """A minimal Chrome DevTools Protocol client for one page target."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self.ids)
        await self.ws.send_json({"id": msg_id, "method": method, "params": params})
        while True:
            msg = await asyncio.wait_for(self.ws.receive(), 30)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"CDP websocket closed: {msg.type}")
            data = json.loads(msg.data)
            if data.get("id") == msg_id:
                if "error" in data:
                    raise RuntimeError(f"CDP {method}: {data['error']}")
                return dict(data.get("result", {}))

    async def eval(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"page error: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 30.0) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = await self.eval(expression)
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"page never satisfied: {expression}")
            await asyncio.sleep(0.05)

    async def type_text(self, text: str) -> None:
        """Key by key, as a user types (keyDown with text inserts the character into the focused field)."""
        for ch in text:
            await self.send("Input.dispatchKeyEvent", type="keyDown", text=ch, key=ch, unmodifiedText=ch)
            await self.send("Input.dispatchKeyEvent", type="keyUp", key=ch)

    async def press_enter(self) -> None:
        enter = {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "nativeVirtualKeyCode": 13}
        await self.send("Input.dispatchKeyEvent", type="keyDown", text="\r", **enter)
        await self.send("Input.dispatchKeyEvent", type="keyUp", **enter)

    async def fill(self, element_id: str, text: str) -> None:
        element = f"document.getElementById({json.dumps(element_id)})"
        await self.eval(f"(() => {{ const e = {element}; e.value = ''; e.focus(); }})()")
        await self.type_text(text)


@contextlib.asynccontextmanager
async def chromium_page(tmp_path: Path) -> AsyncIterator[CDP]:
    browser = find_browser()
    if browser is None:
        pytest.skip(
            "no chromium found (install it: apt-get install -y chromium); set HUBMEM_CHROMIUM to a binary"
        )
    proc = await asyncio.create_subprocess_exec(
        browser,
        "--headless=new",
        "--no-sandbox",  # we may run as root in CI containers
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        port = None
        deadline = asyncio.get_running_loop().time() + 30
        while port is None:
            line = await asyncio.wait_for(
                proc.stderr.readline(), max(0.1, deadline - asyncio.get_running_loop().time())
            )
            if not line:
                raise RuntimeError("chromium exited before DevTools started")
            m = re.search(rb"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = int(m.group(1))
        drain = asyncio.ensure_future(_drain(proc.stderr))
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as r:
                targets = await r.json()
            page = next(t for t in targets if t.get("type") == "page")
            async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                cdp = CDP(ws)
                await cdp.send("Page.enable")
                await cdp.send("Runtime.enable")
                yield cdp
        drain.cancel()
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


async def start_service(hub: FakeHub) -> TestServer:
    app = create_app(Settings(endpoint=hub.endpoint), backend=HubBackend(hub.endpoint))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def open_page(cdp: CDP, server: TestServer) -> None:
    await cdp.send("Page.navigate", url=str(server.make_url("/")))
    await cdp.wait_for("document.readyState === 'complete' && !!document.getElementById('repo')")


async def analyze_in_page(
    cdp: CDP, repo_id: str, *, token: str | None = None, context: int | None = None
) -> str:
    if token is not None:
        await cdp.fill("token", token)
    if context is not None:
        await cdp.fill("context", str(context))
    await cdp.fill("repo", repo_id)
    await cdp.press_enter()
    state: str = await cdp.wait_for(
        "['done', 'error'].includes(document.body.dataset.state) && !document.getElementById('go').disabled"
        " && document.body.dataset.state"
    )
    return state


def shown_int(text: str) -> int:
    assert re.fullmatch(r"\d{1,3}(,\d{3})*", text), text  # thousands separators as displayed
    return int(text.replace(",", ""))


async def text_of(cdp: CDP, element_id: str) -> str:
    value = await cdp.eval(f"document.getElementById({json.dumps(element_id)}).textContent")
    assert isinstance(value, str)
    return value


async def test_page_shows_the_breakdown_for_a_typed_repo(
    make_fake_hub: Callable[..., FakeHub], tmp_path: Path
) -> None:
    from test_service_e2e import KV_BYTES_PER_TOKEN, PARAMS, WEIGHT_BYTES, write_fixtures

    hub = make_fake_hub(write_fixtures(tmp_path / "fixtures"))
    server = await start_service(hub)
    try:
        async with chromium_page(tmp_path) as cdp:
            await open_page(cdp, server)
            assert await analyze_in_page(cdp, "tiny/public", context=1024) == "done"
            assert shown_int(await text_of(cdp, "weights-bytes")) == WEIGHT_BYTES
            assert shown_int(await text_of(cdp, "weights-params")) == PARAMS
            assert shown_int(await text_of(cdp, "kv-per-token")) == KV_BYTES_PER_TOKEN
            assert shown_int(await text_of(cdp, "kv-context")) == 1024
            assert shown_int(await text_of(cdp, "kv-bytes")) == KV_BYTES_PER_TOKEN * 1024
            assert (await text_of(cdp, "weights-size")).endswith(("KiB", "MiB"))
            training = shown_int(await text_of(cdp, "training-bytes"))
            assert training > WEIGHT_BYTES  # weights + gradients + optimizer states at least
            # the weights bar: one part per component, adding up to the exact byte count
            parts = await cdp.eval(
                "[...document.querySelectorAll('#weights-stack span')].map(r => +r.dataset.bytes)"
            )
            assert parts and sum(parts) == WEIGHT_BYTES
            # the plot of memory against context (uPlot draws on a canvas)
            assert await cdp.eval("!!document.querySelector('#plot canvas')") is True
            assert await cdp.eval("new URLSearchParams(location.search).get('repo')") == "tiny/public"

            # a gated repo without a token: the error is shown; with the reader token: the numbers
            assert await analyze_in_page(cdp, "tiny/gated") == "error"
            assert await cdp.eval("document.getElementById('error').dataset.status") == "401"
            assert "gated" in await text_of(cdp, "error")
            assert await analyze_in_page(cdp, "tiny/gated", token=NOGATE_TOKEN) == "error"
            assert await cdp.eval("document.getElementById('error').dataset.status") == "403"
            assert await analyze_in_page(cdp, "tiny/gated", token=READER_TOKEN) == "done"
            assert shown_int(await text_of(cdp, "weights-bytes")) == WEIGHT_BYTES
            assert await cdp.eval("document.getElementById('error').hidden") is True
    finally:
        await server.close()


LLAMA = "meta-llama/Llama-3.1-8B"
LLAMA_BYTES = 16_060_522_496  # published: index total_size (corpus README)
LLAMA_PARAMS = 8_030_261_248  # published: Hub API parameter count


async def test_page_shows_published_figures_for_llama(
    make_fake_hub: Callable[..., FakeHub], tmp_path: Path
) -> None:
    repo_meta(LLAMA)  # the committed fixture: fails when missing
    hub = make_fake_hub(FIXTURES)
    server = await start_service(hub)
    try:
        async with chromium_page(tmp_path) as cdp:
            await open_page(cdp, server)
            assert await analyze_in_page(cdp, LLAMA, token=READER_TOKEN) == "done"
            assert shown_int(await text_of(cdp, "weights-bytes")) == LLAMA_BYTES
            assert shown_int(await text_of(cdp, "weights-params")) == LLAMA_PARAMS
            assert await text_of(cdp, "weights-size") == "14.96 GiB"  # 16,060,522,496 / 2^30
    finally:
        await server.close()
