"""Peer adapters for benchmarks: hubmem, huggingface_hub's ``get_safetensors_metadata`` and hf-mem 0.5.6,
each pointed at any Hub endpoint (in practice the fake Hub) and each returning the same :class:`ToolResult`.

    from scripts.bench.peers import TOOLS, isolated_hf_env
    with isolated_hf_env():                       # no token file, no HF_TOKEN, empty cache, no progress bars
        result = TOOLS["hf-mem"](repo_id, endpoint=hub.endpoint, token=None)

Every call is *cold*: hubmem opens a fresh ``HubClient`` (no header cache), huggingface_hub gets a closed
session (new connections) and a fresh, empty ``HF_HUB_CACHE`` (``get_safetensors_metadata`` downloads the
index into the cache as a side effect and would otherwise reuse it), hf-mem builds its own client per call.

What each tool computes, and what is compared:

* ``bytes``: the weight bytes. hubmem: ``WeightsReport.total_bytes`` (sum of ``end - begin``).
  huggingface_hub reports no byte total; it is summed here from the ``data_offsets`` of the ``TensorInfo``
  objects it returned. hf-mem: ``Result.memory`` (``prod(shape) x dtype width``, its own dtype table).
* ``elements``: raw element count, ``sum(prod(shape))`` (hubmem ``WeightsReport.elements``,
  huggingface_hub ``sum(parameter_count.values())`` over files, hf-mem ``SafetensorsMetadata.param_count``).
* ``parameters``: hubmem's logical parameter count (packed formats unpacked, quantization aux tensors
  excluded); the peers have no such notion.

The hf-mem adapter. hf-mem 0.5.6 hard-codes ``https://huggingface.co`` in every URL and builds its
``httpx2.AsyncClient`` inside ``hf_mem.run.arun`` (no client/transport parameter). For the duration of a
call, the name ``httpx2`` *inside ``hf_mem.run`` only* is replaced by a proxy module whose ``AsyncClient``
builds the client hf-mem asked for (same limits, timeout, http2, follow_redirects) over
:class:`OriginRewriteTransport`: a transport that rewrites requests for the origin
``https://huggingface.co`` to the given endpoint (scheme, host, port and Host header) and passes every
other request (the 302 targets on the CDN origin, signed URLs) through untouched. Redirects, auth
stripping on cross-origin redirects (httpx2's ``_redirect_headers``) and Range handling stay httpx2's own.
hf-mem reads its token from ``hf_token=``, ``HF_TOKEN`` or ``$HF_HOME/token``; the adapter passes the
token explicitly and clears the other two for the call. Nothing can reach the real Hub: the transport
refuses (``httpx2.ConnectError``) any request whose host is neither the endpoint's nor loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from unittest import mock

import httpx2

HF_ORIGIN = ("https", "huggingface.co", 443)


@dataclass(frozen=True)
class ToolResult:
    """One cold call of one tool on one repo."""

    tool: str
    repo_id: str
    ok: bool
    seconds: float  # wall time of the whole call (fetch + parse + the tool's own computation)
    bytes: int | None = None  # weight bytes as the tool computed them (see the module docstring)
    elements: int | None = None  # raw element count sum(prod(shape))
    parameters: int | None = None  # logical parameters (hubmem only)
    error: str | None = None  # "ExceptionType: first line" when ok is False
    fetch_seconds: float | None = None  # hubmem only: the fetch stage alone
    self_requests: int | None = None  # hubmem only: requests as hubmem counted them (FetchStats)
    self_round_trips: int | None = None  # hubmem only: FetchStats.round_trips


Runner = Callable[..., ToolResult]


def _error_text(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first[:160]}"


# -- environment --------------------------------------------------------------------------------------


@contextlib.contextmanager
def isolated_hf_env() -> Iterator[str]:
    """A temporary HF_HOME with no token file; HF_TOKEN unset; progress bars off; telemetry off.

    Call it *before* the first import of huggingface_hub when possible (its constants are read at import);
    the adapters below also set what they need per call, so it is safe afterwards too."""
    keys = ("HF_HOME", "HF_HUB_CACHE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_DISABLE_PROGRESS_BARS",
            "HF_HUB_DISABLE_TELEMETRY", "HF_HUB_DISABLE_XET", "HF_ENDPOINT")  # fmt: skip
    saved = {k: os.environ.get(k) for k in keys}
    with tempfile.TemporaryDirectory(prefix="peers-hf-home-") as home:
        os.environ["HF_HOME"] = home
        os.environ["HF_HUB_CACHE"] = os.path.join(home, "hub")
        os.environ.pop("HF_TOKEN", None)
        os.environ.pop("HUGGING_FACE_HUB_TOKEN", None)
        os.environ.pop("HF_ENDPOINT", None)
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
        os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
        os.environ["HF_HUB_DISABLE_XET"] = "1"
        try:
            yield home
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


# -- hubmem ---------------------------------------------------------------------------------------------


async def arun_hubmem(
    repo_id: str, *, endpoint: str, token: str | None, use_metadata_route: bool = True
) -> ToolResult:
    """What ``hubmem.pipeline.analyze_async`` does (fresh HubClient, no cache, fetch then build_report),
    timed in two parts. ``use_metadata_route=False`` forces range reads of every shard header."""
    from hubmem.fetch.http.client import HubClient
    from hubmem.fetch.hub import fetch_snapshot
    from hubmem.pipeline import build_report

    tool = "hubmem" if use_metadata_route else "hubmem-ranges"
    t0 = time.perf_counter()
    try:
        async with HubClient(
            endpoint=endpoint, token=token if token else False, use_metadata_route=use_metadata_route
        ) as client:
            snapshot = await fetch_snapshot(client, repo_id)
        t_fetch = time.perf_counter() - t0
        report = build_report(snapshot, seconds=t_fetch)
    except Exception as exc:
        return ToolResult(tool, repo_id, False, time.perf_counter() - t0, error=_error_text(exc))
    seconds = time.perf_counter() - t0
    w = report.weights
    return ToolResult(
        tool,
        repo_id,
        True,
        seconds,
        bytes=w.total_bytes,
        elements=w.elements,
        parameters=w.parameters,
        fetch_seconds=t_fetch,
        self_requests=snapshot.stats.requests,
        self_round_trips=snapshot.stats.round_trips,
    )


def run_hubmem(
    repo_id: str, *, endpoint: str, token: str | None, use_metadata_route: bool = True
) -> ToolResult:
    return asyncio.run(
        arun_hubmem(repo_id, endpoint=endpoint, token=token, use_metadata_route=use_metadata_route)
    )


def run_hubmem_ranges(repo_id: str, *, endpoint: str, token: str | None) -> ToolResult:
    return run_hubmem(repo_id, endpoint=endpoint, token=token, use_metadata_route=False)


# -- huggingface_hub ------------------------------------------------------------------------------------


def run_hf_hub(repo_id: str, *, endpoint: str, token: str | None) -> ToolResult:
    """``HfApi(endpoint=..., token=...).get_safetensors_metadata(repo_id)``, cold: a new session and an
    empty cache."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.utils import close_session, disable_progress_bars

    disable_progress_bars()
    close_session()  # no keep-alive connection from a previous call
    with (
        tempfile.TemporaryDirectory(prefix="peers-hf-cache-") as cache,
        mock.patch.object(constants, "HF_HUB_CACHE", cache),
    ):
        t0 = time.perf_counter()
        try:
            meta = HfApi(endpoint=endpoint, token=token if token else False).get_safetensors_metadata(repo_id)
        except Exception as exc:
            return ToolResult(
                "huggingface_hub", repo_id, False, time.perf_counter() - t0, error=_error_text(exc)
            )
        seconds = time.perf_counter() - t0
    close_session()
    elements = sum(sum(f.parameter_count.values()) for f in meta.files_metadata.values())
    nbytes = sum(
        t.data_offsets[1] - t.data_offsets[0]
        for f in meta.files_metadata.values()
        for t in f.tensors.values()
    )
    return ToolResult("huggingface_hub", repo_id, True, seconds, bytes=nbytes, elements=elements)


# -- hf-mem -------------------------------------------------------------------------------------------


def _origin(url: httpx2.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port or {"http": 80, "https": 443}.get(url.scheme))


class OriginRewriteTransport(httpx2.AsyncBaseTransport):
    """Send requests for ``https://huggingface.co`` to ``endpoint`` instead; pass loopback origins through;
    refuse anything else (so a benchmark can never reach the real Hub or a real CDN)."""

    def __init__(self, endpoint: str, inner: httpx2.AsyncBaseTransport) -> None:
        self.target = httpx2.URL(endpoint)
        self.inner = inner
        self.rewritten = 0  # requests rewritten to the endpoint

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if _origin(request.url) == HF_ORIGIN:
            request.url = request.url.copy_with(
                scheme=self.target.scheme, host=self.target.host, port=self.target.port
            )
            request.headers["Host"] = self.target.netloc.decode("ascii")
            self.rewritten += 1
        elif request.url.host not in ("127.0.0.1", "localhost", "::1", self.target.host):
            raise httpx2.ConnectError(f"peers: refusing a request to {request.url.host}", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _httpx2_proxy(endpoint: str) -> types.ModuleType:
    """A stand-in for the ``httpx2`` module inside ``hf_mem.run``: everything is httpx2's except
    ``AsyncClient``, which builds hf-mem's client over :class:`OriginRewriteTransport`."""
    proxy = types.ModuleType("httpx2")
    proxy.__dict__.update({k: v for k, v in vars(httpx2).items() if not k.startswith("__")})

    def async_client(**kwargs: Any) -> httpx2.AsyncClient:
        limits = kwargs.pop("limits", httpx2.Limits())
        http2 = bool(kwargs.pop("http2", False))
        inner = httpx2.AsyncHTTPTransport(limits=limits, http2=http2)
        return httpx2.AsyncClient(transport=OriginRewriteTransport(endpoint, inner), **kwargs)

    proxy.AsyncClient = async_client  # type: ignore[attr-defined]
    return proxy


@contextlib.contextmanager
def _hf_mem_env() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("HF_TOKEN", "HF_HOME")}
    with tempfile.TemporaryDirectory(prefix="peers-hfmem-home-") as home:
        os.environ.pop("HF_TOKEN", None)
        os.environ["HF_HOME"] = home  # absolute: hf-mem reads $HF_HOME/token, which does not exist
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


async def arun_hf_mem(
    repo_id: str, *, endpoint: str, token: str | None, experimental: bool = False
) -> ToolResult:
    """``hf_mem.arun(repo_id, hf_token=token)`` with its https://huggingface.co origin rewritten to
    ``endpoint``."""
    run_module = importlib.import_module("hf_mem.run")  # ``hf_mem.run`` the attribute is a function

    with _hf_mem_env(), mock.patch.object(run_module, "httpx2", _httpx2_proxy(endpoint)):
        t0 = time.perf_counter()
        try:
            result = await run_module.arun(repo_id, hf_token=token or None, experimental=experimental)
        except Exception as exc:
            return ToolResult("hf-mem", repo_id, False, time.perf_counter() - t0, error=_error_text(exc))
        seconds = time.perf_counter() - t0
    st = result.safetensors
    memory = result.memory if isinstance(result.memory, int) else None
    return ToolResult(
        "hf-mem", repo_id, True, seconds, bytes=memory, elements=st.param_count if st is not None else None
    )


def run_hf_mem(repo_id: str, *, endpoint: str, token: str | None, experimental: bool = False) -> ToolResult:
    return asyncio.run(arun_hf_mem(repo_id, endpoint=endpoint, token=token, experimental=experimental))


TOOLS: dict[str, Runner] = {
    "hubmem": run_hubmem,
    "hubmem-ranges": run_hubmem_ranges,
    "huggingface_hub": run_hf_hub,
    "hf-mem": run_hf_mem,
}
