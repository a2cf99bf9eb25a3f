"""The service end to end: the real aiohttp server on a socket, the real fetcher and pipeline (HubBackend),
and the fake Hub on 127.0.0.1 serving small repos this file writes with the safetensors library, so every
expected figure is computed here from the tensor shapes it wrote.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import ClientSession, ClientTimeout, web
from aiohttp.test_utils import TestServer
from safetensors.numpy import save

from hubmem.fakehub.fixtures.layout import NOGATE_TOKEN, READER_TOKEN, RepoWriter, write_tokens
from hubmem.fakehub.server import FakeHub
from hubmem.schema.check import CheckReport
from hubmem.schema.report import Report
from hubmem.service.app import create_app
from hubmem.service.backend import HubBackend
from hubmem.service.routes import CORE
from hubmem.service.settings import Settings

pytestmark = pytest.mark.e2e

SHA_MAIN = "1" * 40
SHA_V1 = "2" * 40

# a tiny Llama: hidden 64, 2 layers, 4 heads of 16, 2 KV heads, MLP 128, vocab 256, float16
HIDDEN, LAYERS, HEADS, KV_HEADS, HEAD_DIM, MLP, VOCAB = 64, 2, 4, 2, 16, 128, 256
CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": HIDDEN,
    "num_hidden_layers": LAYERS,
    "num_attention_heads": HEADS,
    "num_key_value_heads": KV_HEADS,
    "head_dim": HEAD_DIM,
    "intermediate_size": MLP,
    "vocab_size": VOCAB,
    "max_position_embeddings": 4096,
    "torch_dtype": "float16",
    "tie_word_embeddings": False,
    "rms_norm_eps": 1e-5,
}


def tiny_llama_tensors() -> dict[str, np.ndarray]:
    t: dict[str, np.ndarray] = {"model.embed_tokens.weight": np.zeros((VOCAB, HIDDEN), np.float16)}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        t[p + "self_attn.q_proj.weight"] = np.zeros((HEADS * HEAD_DIM, HIDDEN), np.float16)
        t[p + "self_attn.k_proj.weight"] = np.zeros((KV_HEADS * HEAD_DIM, HIDDEN), np.float16)
        t[p + "self_attn.v_proj.weight"] = np.zeros((KV_HEADS * HEAD_DIM, HIDDEN), np.float16)
        t[p + "self_attn.o_proj.weight"] = np.zeros((HIDDEN, HEADS * HEAD_DIM), np.float16)
        t[p + "mlp.gate_proj.weight"] = np.zeros((MLP, HIDDEN), np.float16)
        t[p + "mlp.up_proj.weight"] = np.zeros((MLP, HIDDEN), np.float16)
        t[p + "mlp.down_proj.weight"] = np.zeros((HIDDEN, MLP), np.float16)
        t[p + "input_layernorm.weight"] = np.zeros((HIDDEN,), np.float16)
        t[p + "post_attention_layernorm.weight"] = np.zeros((HIDDEN,), np.float16)
    t["model.norm.weight"] = np.zeros((HIDDEN,), np.float16)
    t["lm_head.weight"] = np.zeros((VOCAB, HIDDEN), np.float16)
    return t


TENSORS = tiny_llama_tensors()
PARAMS = sum(math.prod(a.shape) for a in TENSORS.values())
WEIGHT_BYTES = 2 * PARAMS  # float16
KV_BYTES_PER_TOKEN = 2 * LAYERS * KV_HEADS * HEAD_DIM * 2  # K and V, every layer, fp16


def write_fixtures(root: Path) -> Path:
    write_tokens(root)
    blob = save(TENSORS)

    def llama(repo_id: str, **kw: Any) -> RepoWriter:
        w = RepoWriter(root, repo_id, sha=SHA_MAIN, **kw)
        w.add_json("config.json", CONFIG)
        w.add_safetensors("model.safetensors", blob)
        return w

    llama("tiny/public", refs={"main": SHA_MAIN, "v1": SHA_MAIN}).write()
    llama("tinygpt").write()
    llama("tiny/gated", gated="manual").write()
    llama("tiny/private", private=True).write()
    nosafe = RepoWriter(root, "tiny/nosafe", sha=SHA_MAIN)
    nosafe.add_file("README.md", "weights elsewhere").add_lfs_blob("pytorch_model.bin", 10_000)  # no config
    nosafe.write()
    corrupt = RepoWriter(root, "tiny/corrupt", sha=SHA_MAIN)
    corrupt.add_json("config.json", CONFIG)
    corrupt.add_synthetic_header("model.safetensors", 4096, size=8 + 4096 + 64)
    corrupt.write()
    for i in range(6):
        llama(f"tiny/m{i}").write()
    liar = RepoWriter(root, "tiny/liar", sha=SHA_MAIN)
    liar.add_json("config.json", CONFIG).add_safetensors("model.safetensors", blob, size=len(blob) + 100)
    liar.write()
    return root


@dataclass
class Stack:
    hub: FakeHub
    server: TestServer
    session: ClientSession
    app: web.Application

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def get(self, path: str, token: str | None = None) -> tuple[int, dict[str, str], Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.get(self.url(path), headers=headers) as r:
            body = await r.read()
            data = json.loads(body) if r.content_type == "application/json" else body.decode()
            return r.status, dict(r.headers), data


StackFactory = Callable[..., Any]


@pytest.fixture
def fixtures_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fixtures(tmp_path_factory.mktemp("service_fixtures"))


@pytest.fixture
async def make_stack(
    make_fake_hub: Callable[..., FakeHub], fixtures_dir: Path
) -> AsyncIterator[StackFactory]:
    stacks: list[Stack] = []

    async def factory(settings: Settings | None = None, **backend_kw: Any) -> Stack:
        hub = make_fake_hub(fixtures_dir)
        backend_kw.setdefault("backoff_base", 0.01)
        backend = HubBackend(hub.endpoint, **backend_kw)
        app = create_app(settings or Settings(endpoint=hub.endpoint), backend=backend)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        stack = Stack(hub, server, ClientSession(timeout=ClientTimeout(total=60)), app)
        stacks.append(stack)
        return stack

    yield factory
    for s in stacks:
        await s.session.close()
        await s.server.close()


async def test_report_end_to_end_matches_first_principles(make_stack: StackFactory) -> None:
    st = await make_stack()
    status, headers, data = await st.get("/v1/models/tiny/public?context=1024&batch=2")
    assert status == 200, data
    report = Report.model_validate(data)
    assert report.weights.total_bytes == WEIGHT_BYTES
    assert report.weights.parameters == PARAMS
    assert report.commit == SHA_MAIN and headers["X-Hubmem-Commit"] == SHA_MAIN
    assert report.endpoint == st.hub.endpoint
    assert report.kv_cache is not None
    assert report.kv_cache.bytes_per_token == KV_BYTES_PER_TOKEN
    assert report.kv_cache.context == 1024 and report.kv_cache.batch == 2
    status, _, single = await st.get("/v1/models/tinygpt")
    assert status == 200 and single["repo_id"] == "tinygpt"
    assert single["weights"]["total_bytes"] == WEIGHT_BYTES


async def test_same_report_as_the_cli_code_path(make_stack: StackFactory) -> None:
    """One schema, one code path: the service's JSON is analyze_async's report (timings aside)."""
    from hubmem.pipeline import analyze_async
    from hubmem.schema.kv import KVOptions
    from hubmem.schema.options import Options

    st = await make_stack()
    _, _, data = await st.get("/v1/models/tiny/public?context=2048&kv_dtype=fp8")
    options = Options(kv=KVOptions(context=2048, kv_dtype="fp8"))
    direct = await analyze_async("tiny/public", options, token=False, endpoint=st.hub.endpoint)
    strip = {"fetch": True}
    assert Report.model_validate(data).model_dump(exclude=strip) == direct.model_dump(exclude=strip)


async def test_every_error_status_end_to_end(make_stack: StackFactory) -> None:
    st = await make_stack()
    cases: list[tuple[str, str | None, int, str]] = [
        ("/v1/models/tiny/na..me", None, 400, "invalid_repo_id"),
        ("/v1/models/tiny/public?revision=..", None, 400, "invalid_request"),
        ("/v1/models/tiny/gated", None, 401, "gated"),
        ("/v1/models/tiny/public", "hf_not_a_known_token", 401, "unauthorized"),
        ("/v1/models/tiny/gated", NOGATE_TOKEN, 403, "gated"),
        ("/v1/models/tiny/missing", None, 404, "not_found"),
        ("/v1/models/tiny/missing", READER_TOKEN, 404, "not_found"),
        ("/v1/models/tiny/private", None, 404, "not_found"),
        ("/v1/models/tiny/private", NOGATE_TOKEN, 404, "not_found"),
        ("/v1/models/tiny/public?revision=nope", None, 404, "revision_not_found"),
        ("/v1/models/tiny/public?revision=refs/pr/99", None, 404, "revision_not_found"),
        ("/v1/models/tiny/public?context=0", None, 422, "invalid_options"),
        ("/v1/models/tiny/public?kv_dtype=int3", None, 422, "invalid_options"),
        ("/v1/models/tiny/public?kv_dtype=fp8_ds_mla&engine=vllm", None, 422, "bad_option"),
        ("/v1/models/tiny/nosafe", None, 422, "no_safetensors"),
        ("/v1/models/tiny/corrupt", None, 502, "corrupt_header"),
    ]
    for path, token, status, kind in cases:
        got, headers, data = await st.get(path, token)
        assert (got, data["error"]["kind"]) == (status, kind), (path, data)
        assert data["error"]["message"] and "Traceback" not in json.dumps(data)
        assert headers["Content-Type"].startswith("application/json")
    # the reader token reads the private and gated repos
    assert (await st.get("/v1/models/tiny/private", READER_TOKEN))[0] == 200
    assert (await st.get("/v1/models/tiny/gated", READER_TOKEN))[0] == 200


async def test_token_isolation_between_callers(
    make_stack: StackFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and aiohttp included
    st = await make_stack()
    # caller A (a token with access) reads the gated repo; the result is cached for A
    s, h, a = await st.get("/v1/models/tiny/gated", READER_TOKEN)
    assert s == 200 and h["X-Hubmem-Cache"] == "miss" and a["weights"]["total_bytes"] == WEIGHT_BYTES
    s, h, _ = await st.get("/v1/models/tiny/gated", READER_TOKEN)
    assert s == 200 and h["X-Hubmem-Cache"] == "hit"
    st.hub.log.reset()
    # caller B without a token: 401 although A's result is cached, and the Hub saw B anonymous
    s, _, b = await st.get("/v1/models/tiny/gated")
    assert s == 401 and b["error"]["kind"] == "gated"
    assert "Authorization: Bearer" in b["error"]["hint"] and "--token" not in b["error"]["hint"]
    assert st.hub.log.entries and not any(e.auth for e in st.hub.log.entries)
    # caller C with a token that lacks access: 403, and the Hub saw C's token (not A's) on its requests
    st.hub.log.reset()
    s, _, c = await st.get("/v1/models/tiny/gated", NOGATE_TOKEN)
    assert s == 403 and c["error"]["kind"] == "gated"
    assert any(e.auth for e in st.hub.log.entries)
    assert st.hub.log.auth_leaks() == []  # no token ever went to the CDN origin
    # and A is still served from the cache
    s, h, _ = await st.get("/v1/models/tiny/gated", READER_TOKEN)
    assert s == 200 and h["X-Hubmem-Cache"] == "hit"
    # no token in any log record
    assert caplog.records
    logged = caplog.text + "".join(repr(r.__dict__) for r in caplog.records)
    assert READER_TOKEN not in logged and NOGATE_TOKEN not in logged


def request_multiset(hub: FakeHub) -> Counter[tuple[str, str, str, str, str | None]]:
    """Every request as (origin, method, path, query, range); CDN queries are signatures (with a clock)."""
    return Counter(
        (e.origin, e.method, e.path, e.query if e.origin == "hub" else "", e.range) for e in hub.log.entries
    )


async def test_concurrent_identical_requests_make_one_upstream_fetch(make_stack: StackFactory) -> None:
    st = await make_stack()
    # the requests of one fetch: a direct pipeline run against the same fake Hub
    from hubmem.pipeline import analyze_async

    await analyze_async("tiny/m0", token=False, endpoint=st.hub.endpoint)
    one_fetch = request_multiset(st.hub)
    assert sum(one_fetch.values()) >= 2
    st.hub.log.reset()
    st.hub.set_faults(latency=0.05)  # keep the first fetch in flight while the others arrive
    n = 100
    results = await asyncio.gather(*(st.get("/v1/models/tiny/m0") for _ in range(n)))
    assert [s for s, _, _ in results] == [200] * n
    assert request_multiset(st.hub) == one_fetch
    caches = Counter(h["X-Hubmem-Cache"] for _, h, _ in results)
    assert caches["miss"] == 1 and caches["miss"] + caches["coalesced"] + caches["hit"] == n
    assert len({json.dumps(d["weights"], sort_keys=True) for _, _, d in results}) == 1


async def test_scan_end_to_end(make_stack: StackFactory) -> None:
    st = await make_stack(Settings(scan_concurrency=2))
    ids = ["tiny/m1", "tiny/m2", "tiny/gated", "tiny/missing", "not..valid", "tiny/nosafe"]
    async with st.session.post(st.url("/v1/scan?context=512"), json=ids) as r:
        assert r.status == 200 and r.content_type == "application/x-ndjson"
        rows = [json.loads(line) async for line in r.content if line.strip()]
    by_id = {row["repo_id"]: row for row in rows}
    assert set(by_id) == set(ids)
    for ok in ("tiny/m1", "tiny/m2"):
        assert by_id[ok]["ok"] and by_id[ok]["report"]["weights"]["total_bytes"] == WEIGHT_BYTES
        assert by_id[ok]["report"]["kv_cache"]["context"] == 512
    expected = {"tiny/gated": 401, "tiny/missing": 404, "not..valid": 400, "tiny/nosafe": 422}
    assert {k: by_id[k]["status"] for k in expected} == expected
    assert all(set(by_id[k]["error"]) >= {"kind", "message"} for k in expected)


async def test_check_route_end_to_end(make_stack: StackFactory) -> None:
    st = await make_stack()
    blob_size = len(save(TENSORS))  # the file the fixture holds: 8 + N + data
    status, headers, data = await st.get("/v1/models/tiny/public/check")
    assert status == 200, data
    check = CheckReport.model_validate(data)
    assert check.ok and headers["X-Hubmem-Commit"] == SHA_MAIN
    sizes = check.item("file_sizes")
    assert sizes is not None and sizes.status == "ok" and sizes.expected == sizes.actual == blob_size
    hub = check.item("hub_parameters")
    assert hub is not None and hub.status == "ok" and hub.actual == PARAMS
    assert any("/tree/" in e.path for e in st.hub.log.entries)  # the check reads the Hub's file sizes
    # a repo whose real file is 100 bytes longer than its headers describe
    status, _, data = await st.get("/v1/models/tiny/liar/check")
    liar = CheckReport.model_validate(data)
    sizes = liar.item("file_sizes")
    assert status == 200 and not liar.ok and sizes is not None and sizes.status == "mismatch"
    assert (sizes.expected, sizes.actual, sizes.difference) == (blob_size + 100, blob_size, -100)
    # same access rules as the report, and only the checkpoint's own parameters
    assert (await st.get("/v1/models/tiny/gated/check"))[0] == 401
    assert (await st.get("/v1/models/tiny/gated/check", NOGATE_TOKEN))[0] == 403
    assert (await st.get("/v1/models/tiny/gated/check", READER_TOKEN))[0] == 200
    status, _, data = await st.get("/v1/models/tiny/public/check?context=4096")
    assert status == 422 and data["error"]["errors"][0]["param"] == "context"


async def test_upstream_faults_give_the_right_statuses_and_nothing_sticks(make_stack: StackFactory) -> None:
    st = await make_stack(Settings(upstream_timeout=1.0), max_retries=1)
    hub = st.hub
    # latency beyond the service's upstream timeout: 504, for every waiting caller
    hub.set_faults(latency=1.5)
    results = await asyncio.wait_for(asyncio.gather(*(st.get("/v1/models/tiny/m4") for _ in range(10))), 10)
    assert {s for s, _, _ in results} == {504}
    assert results[0][2]["error"]["kind"] == "upstream_timeout"
    await asyncio.sleep(0.7)  # let the fake Hub's delayed handlers finish before it is stopped
    # persistent 429 asking for a long wait: passed on at once, with Retry-After
    hub.clear_faults()
    hub.set_faults(rate_limit_every=1, rate_limit_reset=30)
    s, h, d = await st.get("/v1/models/tiny/m1")
    assert s == 429 and d["error"]["kind"] == "rate_limited" and 30 <= int(h["Retry-After"]) <= 31
    # one short 429: absorbed by a retry
    hub.clear_faults()
    hub.inject(429, 1)
    hub.set_faults(rate_limit_reset=0)
    assert (await st.get("/v1/models/tiny/m2"))[0] == 200
    # persistent 5xx and dropped connections: 502 after the retries
    hub.clear_faults()
    hub.set_faults(error_every=1, error_statuses=(500,))
    s, _, d = await st.get("/v1/models/tiny/m3")
    assert s == 502 and d["error"]["kind"] == "network"
    hub.clear_faults()
    hub.set_faults(drop_every=1)
    s, _, d = await st.get("/v1/models/tiny/m3")
    assert s == 502 and d["error"]["kind"] == "network"
    # faults gone: everything works, nothing is left in flight
    hub.clear_faults()
    for repo in ("tiny/m1", "tiny/m3", "tiny/m4"):
        assert (await st.get(f"/v1/models/{repo}"))[0] == 200
    core = st.app[CORE]
    assert len(core.fetches) == 0 and len(core.builds) == 0 and core.upstream_running == 0


async def test_only_the_configured_endpoint_is_contacted(make_stack: StackFactory) -> None:
    """No SSRF: ids, revisions and subfolders that name another host never make the service call it."""
    seen: list[str] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(request.path_qs)
        return web.Response(text="{}")

    evil_app = web.Application()
    evil_app.router.add_route("*", "/{tail:.*}", record)
    evil = TestServer(evil_app, host="127.0.0.1")
    await evil.start_server()
    try:
        st = await make_stack()
        host = f"127.0.0.1:{evil.port}"
        attempts = [
            f"/v1/models/{host}/x",
            f"/v1/models/tiny/public?revision=http://{host}/",
            f"/v1/models/tiny/public?revision=@{host}",
            f"/v1/models/tiny/public?revision=..%2F..%2F..%2F{host}",
            f"/v1/models/tiny/public?subfolder=//{host}/x",
            f"/v1/models/tiny/public?subfolder=..%2F..%2F{host}",
            "/v1/models/tiny%2F..%2F..%2Fx/y",
            f"/v1/models/http:%2F%2F{host}/x",
        ]
        for path in attempts:
            status, _, data = await st.get(path)
            assert status in (400, 404), (path, status, data)
        async with st.session.post(st.url("/v1/scan"), json=[f"http://{host}/a", f"{host}/b", "//x/y"]) as r:
            rows = [json.loads(line) async for line in r.content if line.strip()]
        assert [row["status"] for row in rows] == [400, 400, 400]
        assert seen == []
        origins = {e.origin for e in st.hub.log.entries}
        assert origins <= {"hub", "cdn"}
    finally:
        await evil.close()


async def test_memory_stays_bounded_with_a_small_lru(make_stack: StackFactory) -> None:
    st = await make_stack(Settings(cache_entries=4))
    for ctx in range(1, 30):
        assert (await st.get(f"/v1/models/tiny/public?context={ctx}"))[0] == 200
    _, _, health = await st.get("/healthz")
    assert health["cache"]["entries"] == 4 and health["cache"]["evictions"] == 25
    core = st.app[CORE]
    assert len(core.resolutions) <= core.resolutions.max_entries
