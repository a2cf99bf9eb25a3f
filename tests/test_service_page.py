"""The web page's answer (issue #14) in a real headless Chromium, over the committed fake-Hub fixtures: the
verdict in words and the memory-against-context plot for a fitting and a non-fitting case, a shared URL opened
again, Back to the previous result, a pasted Hub URL, a gated repo, a custom GPU size, the page at 390 px; and
the service routes the page needs (/v1/gpus, the vendored chart library, ``curve=true``).

Screenshots: ``HUBMEM_SCREENSHOTS=/some/dir`` keeps the desktop and 390 px PNGs the tests take (else they go
to the test's temporary folder); look at them when the page changes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from test_service_browser import CDP, chromium_page, start_service

from hubmem.estimate.fit.gpus import load_catalog
from hubmem.fakehub.fixtures.layout import READER_TOKEN
from hubmem.fakehub.server import FakeHub

from support.paths import FIXTURES, repo_meta

QWEN = "Qwen/Qwen3-8B"
LLAMA = "meta-llama/Llama-3.1-8B"  # gated (manual) in the fixtures
NOT_FITTING = f"?repo={QWEN}&gpu=L4&context=32768"  # 20.75 GiB needed, 18.62 GiB usable
FITTING = f"?repo={QWEN}&gpu=H100-SXM&context=32768"
DONE = "['done', 'error'].includes(document.body.dataset.state) && !document.getElementById('go').disabled"


@pytest.fixture
async def service(make_fake_hub: Callable[..., FakeHub]) -> AsyncIterator[TestServer]:
    repo_meta(QWEN)  # the committed fixtures: fail when missing
    repo_meta(LLAMA)
    server = await start_service(make_fake_hub(FIXTURES))
    yield server
    await server.close()


async def api(server: TestServer, path: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, session.get(server.make_url(path), headers=headers) as r:
        assert r.status == 200, await r.text()
        return await r.json()


COLLECT_ERRORS = (
    "window.__errors = []; addEventListener('error', (e) => __errors.push(String(e.message)));"
    " addEventListener('unhandledrejection', (e) => __errors.push(String(e.reason)));"
)


async def collect_errors(cdp: CDP) -> None:
    """From the next page load on, the page's uncaught errors gather in ``window.__errors``."""
    await cdp.send("Page.addScriptToEvaluateOnNewDocument", source=COLLECT_ERRORS)


async def open_url(cdp: CDP, server: TestServer, query: str) -> str:
    await cdp.send("Page.navigate", url=str(server.make_url("/")) + query)
    await cdp.wait_for("document.readyState === 'complete' && !!document.getElementById('repo')")
    return str(await cdp.wait_for(DONE + " && document.body.dataset.state"))


async def wait_done(cdp: CDP) -> str:
    await asyncio.sleep(0.05)
    return str(await cdp.wait_for(DONE + " && document.body.dataset.state"))


async def shown(cdp: CDP) -> dict[str, Any]:
    """What the page shows: the verdict, its facts, the plot's series and points, the chosen GPU row."""
    value = await cdp.eval(
        """(() => {
        const v = document.getElementById('verdict'), p = document.getElementById('plot');
        const facts = {};
        document.querySelectorAll('#verdict-facts b')
          .forEach((b) => { facts[b.dataset.key] = b.textContent; });
        const chosen = document.querySelector('#gpu-table tr.chosen');
        return { verdict: v.dataset.verdict, head: document.getElementById('verdict-head').textContent,
                 facts, canvas: !!p.querySelector('canvas'), points: +(p.dataset.points || 0),
                 series: (p.dataset.series || '').split('|'), chosen: chosen && chosen.dataset.gpu,
                 rows: document.querySelectorAll('#gpu-table tbody tr').length,
                 search: location.search, gpu: document.getElementById('gpu').value };
        })()"""
    )
    assert isinstance(value, dict)
    return value


def max_context_text(n: int, capped: bool) -> str:
    return f"{n:,}" + (" (the model's maximum)" if capped else "")


async def screenshot(cdp: CDP, folder: Path, name: str, width: int) -> Path:
    """A full-page PNG at ``width`` CSS pixels (``HUBMEM_SCREENSHOTS`` keeps them)."""
    await cdp.send(
        "Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1, mobile=width < 500
    )
    await asyncio.sleep(0.3)  # the plot follows the resize
    data = await cdp.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    out = Path(os.environ.get("HUBMEM_SCREENSHOTS") or folder) / f"{name}-{width}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(base64.b64decode(data["data"]))
    return out


# ------------------------------------------------------------------------------------------ the routes


async def test_gpus_static_files_and_the_curve(service: TestServer) -> None:
    gpus = await api(service, "/v1/gpus")
    spec = (await api(service, "/openapi.json"))["paths"]["/v1/gpus"]["get"]["responses"]["200"]
    assert spec["content"]["application/json"]["schema"]["items"]["$ref"].endswith("/GPUSpec")
    assert [g["name"] for g in gpus] == [s.name for s in load_catalog().values()]
    assert next(g for g in gpus if g["name"] == "H100-SXM")["memory_bytes"] == 80 * 10**9
    async with aiohttp.ClientSession() as session:
        async with session.get(service.make_url("/static/uPlot.iife.min.js")) as r:
            assert r.status == 200 and r.content_type == "text/javascript"
            assert (await r.text()).startswith("/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
        async with session.get(service.make_url("/static/../page.html")) as r:
            assert r.status == 404
        async with session.get(service.make_url("/")) as r:
            assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    report = await api(service, f"/v1/models/{QWEN}?gpu=L4&context=32768&curve=true")
    curve, fit = report["curve"], report["fit"]
    assert curve["gpu"] == "L4" and curve["usable_bytes"] == fit["usable_bytes"]
    assert curve["points"][-1]["context"] == report["architecture"]["max_context"] == curve["max_context"]
    at = next(p for p in curve["points"] if p["context"] == 32768)
    assert at["required_bytes"] == fit["required_bytes"] and at["fits"] is fit["fits"] is False
    assert len(report["gpu_table"]) == len(gpus)
    # vLLM: the curve is drawn with vLLM's own pool reservation, equal to the verdict at its --max-model-len
    vllm = await api(service, f"/v1/models/{QWEN}?gpu=L4&engine=vllm&context=16384&curve=true")
    at = next(p for p in vllm["curve"]["points"] if p["context"] == 16384)
    assert vllm["curve"]["context"] == vllm["fit"]["context"] == 16384
    assert at["required_bytes"] == vllm["fit"]["required_bytes"] and at["fits"] is vllm["fit"]["fits"]
    plain = await api(service, f"/v1/models/{QWEN}?gpu=L4")
    assert plain["curve"] is None and plain["gpu_table"] == []  # only when asked for


# ------------------------------------------------------------------------------------------ the page


@pytest.mark.e2e
async def test_verdict_and_plot_for_a_shared_url_and_back(service: TestServer, tmp_path: Path) -> None:
    no = (await api(service, f"/v1/models/{QWEN}?gpu=L4&context=32768&curve=true"))["fit"]
    yes = (await api(service, f"/v1/models/{QWEN}?gpu=H100-SXM&context=32768&curve=true"))["fit"]
    async with chromium_page(tmp_path) as cdp:
        await collect_errors(cdp)
        # a shared URL: every option in the query string, the result without typing anything
        assert await open_url(cdp, service, NOT_FITTING) == "done"
        page = await shown(cdp)
        assert page["verdict"] == "no-fit" and page["head"] == "Does not fit on 1 × L4"
        assert page["facts"]["max-context"] == max_context_text(no["max_context"], no["max_context_capped"])
        assert page["facts"]["min-gpus"] == f"{no['min_gpus']} GPUs"
        assert page["canvas"] and page["points"] >= 24
        assert page["series"] == [
            "engine overheads",
            "KV cache + state",
            "weights",
            "usable per GPU (L4)",
            "GPU memory",
        ]
        assert page["chosen"] == "L4" and page["rows"] == len(load_catalog())
        await screenshot(cdp, tmp_path, "no-fit", 1280)

        # another GPU: a new history entry, the fitting verdict
        await cdp.eval(
            "(() => { const s = document.getElementById('gpu'); s.value = 'H100-SXM';"
            " s.dispatchEvent(new Event('change')); })()"
        )
        await cdp.wait_for("document.getElementById('verdict').dataset.verdict === 'fits'")
        assert await wait_done(cdp) == "done"
        page = await shown(cdp)
        assert page["head"] == "Fits on 1 × H100-SXM" and page["chosen"] == "H100-SXM"
        assert page["facts"]["max-context"] == max_context_text(yes["max_context"], yes["max_context_capped"])
        assert "gpu=H100-SXM" in page["search"] and "context=32768" in page["search"]
        path = await screenshot(cdp, tmp_path, "fits", 1280)
        assert path.read_bytes().startswith(b"\x89PNG")

        # Back: the previous address and its result
        await cdp.eval("history.back()")
        await cdp.wait_for("document.getElementById('verdict').dataset.verdict === 'no-fit'")
        assert await wait_done(cdp) == "done"
        page = await shown(cdp)
        assert page["gpu"] == "L4" and "gpu=L4" in page["search"]
        assert await cdp.eval("window.__errors") == []


@pytest.mark.e2e
async def test_every_option_goes_into_the_url_and_comes_back(service: TestServer, tmp_path: Path) -> None:
    async with chromium_page(tmp_path) as cdp:
        await collect_errors(cdp)
        assert await open_url(cdp, service, f"?repo={QWEN}") == "done"
        await cdp.fill("context", "16384")
        await cdp.fill("batch", "2")
        await cdp.fill("rank", "32")
        await cdp.eval(
            "(() => { for (const [id, v] of [['engine', 'vllm'], ['train', 'qlora'], ['gpu', 'A100-80GB']])"
            " document.getElementById(id).value = v; })()"
        )
        await cdp.press_enter()  # in the context field: the form's submit
        await cdp.wait_for("location.search.includes('engine=vllm')")
        assert await wait_done(cdp) == "done"
        before = await shown(cdp)
        shared = await cdp.eval("location.href")
        query = await cdp.eval("Object.fromEntries(new URLSearchParams(location.search))")
        assert query == {
            "repo": QWEN,
            "gpu": "A100-80GB",
            "context": "16384",
            "batch": "2",
            "engine": "vllm",
            "train": "qlora",
            "rank": "32",
        }
        # opened again (a new page load, as someone given the link): the same form and the same answer
        await cdp.send("Page.navigate", url="about:blank")
        await cdp.send("Page.navigate", url=shared)
        await cdp.wait_for("document.readyState === 'complete' && !!document.getElementById('repo')")
        assert await wait_done(cdp) == "done"
        fields = await cdp.eval(
            "['repo', 'gpu', 'context', 'batch', 'engine', 'train', 'rank']"
            ".map((id) => document.getElementById(id).value)"
        )
        assert fields == [QWEN, "A100-80GB", "16384", "2", "vllm", "qlora", "32"]
        after = await shown(cdp)
        assert (after["head"], after["facts"]) == (before["head"], before["facts"])
        assert await cdp.eval("document.getElementById('training-method').textContent.startsWith('qlora')")
        assert await cdp.eval("window.__errors") == []


@pytest.mark.e2e
@pytest.mark.parametrize(
    "pasted",
    [
        f"https://huggingface.co/{QWEN}/tree/main",
        f"hf.co/{QWEN}",
        f"https://huggingface.co/{QWEN}/blob/main/config.json",
    ],
)
async def test_a_pasted_hub_url(service: TestServer, tmp_path: Path, pasted: str) -> None:
    async with chromium_page(tmp_path) as cdp:
        await cdp.send("Page.navigate", url=str(service.make_url("/")))
        await cdp.wait_for("document.readyState === 'complete' && !!document.getElementById('repo')")
        await cdp.fill("repo", pasted)
        await cdp.press_enter()
        assert await wait_done(cdp) == "done"
        assert await cdp.eval("document.getElementById('repo').value") == QWEN
        query = await cdp.eval("Object.fromEntries(new URLSearchParams(location.search))")
        assert query["repo"] == QWEN and query["gpu"] == "H100-SXM"  # the picker's default
        if "/tree/" in pasted or "/blob/" in pasted:
            assert query["revision"] == "main"
        assert (await shown(cdp))["verdict"] == "fits"


@pytest.mark.e2e
async def test_the_engine_would_refuse_and_a_dataset_url(service: TestServer, tmp_path: Path) -> None:
    async with chromium_page(tmp_path) as cdp:
        # 32 query heads on 3 GPUs: vLLM refuses the tensor-parallel size, whatever the memory
        assert await open_url(cdp, service, f"?repo={QWEN}&gpu=L4&gpus=3") == "done"
        page = await shown(cdp)
        assert page["verdict"] == "refused" and page["head"] == "The engine would refuse this on 3 × L4"
        notes = await cdp.eval("document.getElementById('verdict-notes').textContent")
        assert "divisible by tensor parallel size (3)" in notes
        assert page["facts"]["min-gpus"] == "1 GPU" and page["canvas"]
        # a dataset's URL is not a model: said on the page, nothing asked of the API
        await cdp.fill("repo", "https://huggingface.co/datasets/org/data")
        await cdp.press_enter()
        await cdp.wait_for("!document.getElementById('error').hidden")
        assert "model" in await cdp.eval("document.getElementById('error').textContent")


@pytest.mark.e2e
async def test_a_gated_repo_asks_for_the_token_field(service: TestServer, tmp_path: Path) -> None:
    async with chromium_page(tmp_path) as cdp:
        assert await open_url(cdp, service, f"?repo={LLAMA}&gpu=RTX-4090") == "error"
        assert await cdp.eval("document.getElementById('error').dataset.status") == "401"
        error = await cdp.eval("document.getElementById('error').textContent")
        assert "gated" in error and "Hub token field" in error and "Authorization" not in error
        await cdp.fill("token", READER_TOKEN)
        await cdp.press_enter()
        await cdp.wait_for(
            "document.body.dataset.state === 'loading' || document.body.dataset.state === 'done'"
        )
        assert await wait_done(cdp) == "done"
        assert (await shown(cdp))["head"] == "Fits on 1 × RTX-4090"
        # the token never goes into the shareable address
        assert "hf_" not in await cdp.eval("location.href") and READER_TOKEN not in await cdp.eval(
            "location.href"
        )


@pytest.mark.e2e
async def test_custom_size_training_none_and_a_phone(service: TestServer, tmp_path: Path) -> None:
    async with chromium_page(tmp_path) as cdp:
        await cdp.send(
            "Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=1, mobile=True
        )
        assert await open_url(cdp, service, f"?repo={QWEN}&gpu=12GiB&gpus=2&train=none") == "done"
        page = await shown(cdp)
        assert page["gpu"] == "custom" and await cdp.eval("document.getElementById('gpu_size').value") == "12"
        assert page["head"] in ("Fits on 2 × 12GiB", "Does not fit on 2 × 12GiB")
        assert await cdp.eval("document.getElementById('training-body').hidden") is True
        assert await cdp.eval("document.getElementById('training-panel').hidden") is False  # its options stay
        # 390 px: nothing wider than the screen, the verdict before the folded options' end
        assert await cdp.eval("document.documentElement.scrollWidth") <= 390
        assert await cdp.eval("document.getElementById('options').open") is False
        await screenshot(cdp, tmp_path, "phone", 390)
        text = json.dumps(await cdp.eval("document.getElementById('verdict-sub').textContent"))
        assert "GiB" in text
