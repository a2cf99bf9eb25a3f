"""The service's HTTP layer against an injected backend (no Hub): routes, statuses, caching, auth scoping,
single flight, scan streaming, limits. The end-to-end tests against the fake Hub are in test_service_e2e.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from pydantic import BaseModel

from hubmem.errors import (
    ConfigError,
    CorruptHeaderError,
    GatedRepoError,
    HubmemError,
    InvalidRepoIdError,
    NetworkError,
    NoSafetensorsError,
    OfflineError,
    RateLimitedError,
    RepoNotFoundError,
    RevisionNotFoundError,
    UnauthorizedError,
)
from hubmem.schema.architecture import Architecture
from hubmem.schema.check import CheckItem, CheckReport
from hubmem.schema.kv import KVOptions
from hubmem.schema.options import Options
from hubmem.schema.report import Report
from hubmem.schema.training import TrainingOptions
from hubmem.schema.weights import DtypeWeights, WeightsReport
from hubmem.service.app import create_app
from hubmem.service.backend import Fetched, Resolution
from hubmem.service.params import QUERY_PARAMS
from hubmem.service.routes import CORE
from hubmem.service.settings import Settings

READER = "hf_reader_token"  # may read the gated repo
OUTSIDER = "hf_outsider_token"  # valid, but not on the gated repo's list
SECRET_TOKENS = (READER, OUTSIDER)


ITEMSIZE = {"BF16": 2, "F16": 2, "F32": 4}  # bytes per element


def sha(n: int) -> str:
    return f"{n:040x}"


@dataclass
class FakeRepo:
    tensors: list[tuple[str, list[int]]]  # (dtype, shape)
    commits: dict[str, str]  # revision -> sha
    gated: bool = False
    private: bool = False


def make_report(repo_id: str, revision: str, commit: str, repo: FakeRepo) -> Report:
    """A report whose weight totals are computed here from shapes and dtype sizes (first principles)."""
    by_dtype: dict[str, DtypeWeights] = {}
    for dtype, shape in repo.tensors:
        numel = math.prod(shape)
        nbytes = numel * ITEMSIZE[dtype]
        d = by_dtype.setdefault(dtype, DtypeWeights(bytes=0, parameters=0, elements=0, tensors=0))
        d.bytes += nbytes
        d.parameters += numel
        d.elements += numel
        d.tensors += 1
    weights = WeightsReport(
        total_bytes=sum(d.bytes for d in by_dtype.values()),
        parameters=sum(d.parameters for d in by_dtype.values()),
        elements=sum(d.elements for d in by_dtype.values()),
        tensors=len(repo.tensors),
        by_dtype=by_dtype,
        by_component={},
        files=[],
    )
    return Report(
        repo_id=repo_id, revision=revision, commit=commit, architecture=Architecture(), weights=weights
    )


@dataclass
class FakeBackend:
    """Hub semantics in miniature: 401 anonymous/invalid, 403 gated without access, 404 private/missing."""

    repos: dict[str, FakeRepo]
    endpoint: str = "http://hub.invalid"
    can_resolve: bool = True
    calls: list[tuple[str, str, str, str | None]] = field(default_factory=list)
    resolves: list[tuple[str, str, str | None]] = field(default_factory=list)
    builds: list[tuple[str, Options]] = field(default_factory=list)
    hub_info: list[bool] = field(default_factory=list)
    gate: asyncio.Event | None = None
    delay: float = 0.0
    fail: dict[str, BaseException] = field(default_factory=dict)

    def _access(self, repo_id: str, token: str | None) -> FakeRepo:
        if token is not None and token not in SECRET_TOKENS:
            raise UnauthorizedError("401: Invalid credentials in Authorization header", status=401)
        repo = self.repos.get(repo_id)
        if repo is None or (repo.private and token != READER):
            raise RepoNotFoundError(f"{repo_id}: not found", repo_id=repo_id, status=404 if token else 401)
        return repo

    def _commit(self, repo_id: str, repo: FakeRepo, revision: str) -> str:
        if revision in repo.commits:
            return repo.commits[revision]
        if revision in repo.commits.values():
            return revision
        raise RevisionNotFoundError(f"{repo_id}@{revision}: revision not found", repo_id=repo_id)

    async def fetch(
        self, repo_id: str, revision: str, subfolder: str | None, token: str | None, *, hub_info: bool = False
    ) -> Fetched:
        self.calls.append(("fetch", repo_id, revision, token))
        self.hub_info.append(hub_info)
        if self.gate is not None:
            await self.gate.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        if repo_id in self.fail:
            raise self.fail[repo_id]
        repo = self._access(repo_id, token)
        commit = self._commit(repo_id, repo, revision)
        if repo.gated and token is None:
            raise GatedRepoError(f"{repo_id} is gated", repo_id=repo_id, status=401)
        if repo.gated and token != READER:
            raise GatedRepoError(f"{repo_id}: not in the authorized list", repo_id=repo_id, status=403)
        return Fetched((repo_id, revision, commit, repo), commit, public=None, weight=1000)

    async def build(self, kind: str, fetched: Fetched, options: Options) -> BaseModel:
        self.builds.append((kind, options))
        repo_id, revision, commit, repo = fetched.snapshot
        report = make_report(repo_id, revision, commit, repo)
        if kind == "report":
            return report
        w = report.weights
        item = CheckItem(
            name="bytes", status="ok", expected=w.total_bytes, actual=w.total_bytes, difference=0
        )
        return CheckReport(ok=True, items=[item])

    async def resolve(self, repo_id: str, revision: str, token: str | None) -> Resolution | None:
        self.resolves.append((repo_id, revision, token))
        if not self.can_resolve:
            return None
        repo = self._access(repo_id, token)  # metadata of gated repos is public, like the Hub's
        return Resolution(self._commit(repo_id, repo, revision), public=not (repo.gated or repo.private))

    async def aclose(self) -> None:
        return None


def default_repos() -> dict[str, FakeRepo]:
    return {
        "org/public": FakeRepo([("BF16", [1000, 64]), ("F32", [64])], {"main": sha(1), "v1": sha(2)}),
        "org/gated": FakeRepo([("BF16", [512, 512])], {"main": sha(3)}, gated=True),
        "org/private": FakeRepo([("F16", [10, 10])], {"main": sha(4)}, private=True),
        "gpt2": FakeRepo([("F32", [50257, 768])], {"main": sha(5)}),
    }


@dataclass
class Service:
    server: TestServer
    session: ClientSession
    backend: FakeBackend
    app: web.Application

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def get(self, path: str, token: str | None = None, **kw: Any) -> tuple[int, dict[str, Any], Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.get(self.url(path), headers=headers, **kw) as r:
            body = await r.read()
            data = json.loads(body) if r.content_type == "application/json" else body.decode()
            return r.status, dict(r.headers), data


ServiceFactory = Callable[..., Any]


@pytest.fixture
async def make_service() -> AsyncIterator[ServiceFactory]:
    made: list[Service] = []

    async def factory(settings: Settings | None = None, backend: FakeBackend | None = None) -> Service:
        backend = backend or FakeBackend(default_repos())
        app = create_app(settings or Settings(), backend=backend)
        server = TestServer(app)
        await server.start_server()
        svc = Service(server, ClientSession(), backend, app)
        made.append(svc)
        return svc

    yield factory
    for svc in made:
        await svc.session.close()
        await svc.server.close()


async def test_report_route_returns_the_backend_report(make_service: ServiceFactory) -> None:
    svc = await make_service()
    status, headers, data = await svc.get("/v1/models/org/public")
    assert status == 200, data
    assert headers["Content-Type"].startswith("application/json")
    report = Report.model_validate(data)  # the one schema
    # 1000*64 bf16 (2 B) + 64 f32 (4 B), computed independently of the code under test
    assert report.weights.total_bytes == 1000 * 64 * 2 + 64 * 4
    assert report.weights.parameters == 1000 * 64 + 64
    assert report.commit == sha(1) and headers["X-Hubmem-Commit"] == sha(1)
    assert headers["X-Hubmem-Cache"] == "miss"
    assert "Authorization" in headers["Vary"]
    assert svc.backend.calls == [("fetch", "org/public", "main", None)]
    assert [k for k, _ in svc.backend.builds] == ["report"]


async def test_single_segment_repo_id(make_service: ServiceFactory) -> None:
    svc = await make_service()
    status, _, data = await svc.get("/v1/models/gpt2")
    assert status == 200
    assert data["repo_id"] == "gpt2" and data["weights"]["total_bytes"] == 50257 * 768 * 4


async def test_query_parameters_become_options(make_service: ServiceFactory) -> None:
    svc = await make_service()
    q = (
        "revision=v1&context=1024&batch=2&kv_dtype=fp8&engine=vllm&block_size=32"
        "&train=lora&gpus=4&optimizer=sgd"
    )
    status, _, data = await svc.get(f"/v1/models/org/public?{q}")
    assert status == 200, data
    expected = Options(
        revision="v1",
        kv=KVOptions(context=1024, batch=2, kv_dtype="fp8", engine="vllm", block_size=32),
        training=TrainingOptions(method="lora", gpus=4, optimizer="sgd"),
    )
    assert [o for _, o in svc.backend.builds] == [expected]
    assert data["revision"] == "v1" and data["commit"] == sha(2)


async def test_list_bool_and_integer_choice_parameters(make_service: ServiceFactory) -> None:
    svc = await make_service()
    q = "zero=2&lora_targets=q_proj,v_proj&lora_targets=o_proj&flash_attention=false&include_mtp=1&train=lora"
    status, _, data = await svc.get(f"/v1/models/org/public?{q}")
    assert status == 200, data
    options = svc.backend.builds[-1][1]
    assert options.training.zero == 2 and options.training.lora_targets == ["q_proj", "v_proj", "o_proj"]
    assert options.training.flash_attention is False and options.kv.include_mtp is True
    status, _, data = await svc.get("/v1/models/org/public?zero=5")
    assert status == 422 and data["error"]["errors"][0]["param"] == "zero"


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("context=0", "context"),
        ("context=abc", "context"),
        ("batch=-1", "batch"),
        ("engine=tgi", "engine"),
        ("train=dpo", "train"),
        ("gpus=1.5", "gpus"),
        ("contxt=10", "contxt"),  # unknown parameter: a typo is an error, not silently ignored
    ],
)
async def test_bad_option_values_are_422(make_service: ServiceFactory, query: str, param: str) -> None:
    svc = await make_service()
    status, _, data = await svc.get(f"/v1/models/org/public?{query}")
    assert status == 422
    assert data["error"]["kind"] == "invalid_options"
    assert [e["param"] for e in data["error"]["errors"]] == [param]
    assert svc.backend.calls == []


async def test_repeated_parameter_is_422(make_service: ServiceFactory) -> None:
    svc = await make_service()
    status, _, data = await svc.get("/v1/models/org/public?context=1&context=2")
    assert status == 422 and "repeated" in data["error"]["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/org/na..me",
        "/v1/models/-org/name",
        "/v1/models/org/name.git",
        "/v1/models/or%20g/name",
        "/v1/models/" + "a" * 97,
        "/v1/models/org/na--me",
    ],
)
async def test_invalid_repo_ids_are_400(make_service: ServiceFactory, path: str) -> None:
    svc = await make_service()
    status, _, data = await svc.get(path)
    assert status == 400, data
    assert data["error"]["kind"] == "invalid_repo_id"
    assert svc.backend.calls == []


@pytest.mark.parametrize(
    "query",
    [
        "revision=..",
        "revision=a%0Ab",
        "revision=" + "x" * 300,
        "subfolder=../x",
        "subfolder=a/../../b",
        "subfolder=/etc",
    ],
)
async def test_unsafe_revision_or_subfolder_is_400(make_service: ServiceFactory, query: str) -> None:
    svc = await make_service()
    status, _, data = await svc.get(f"/v1/models/org/public?{query}")
    assert status == 400, data
    assert data["error"]["kind"] == "invalid_request"
    assert svc.backend.calls == []


ERROR_CASES: list[tuple[BaseException, int]] = [
    (InvalidRepoIdError("bad id"), 400),
    (UnauthorizedError("Invalid credentials"), 401),
    (GatedRepoError("gated", status=401), 401),
    (GatedRepoError("gated, no access", status=403), 403),
    (RepoNotFoundError("nope"), 404),
    (RevisionNotFoundError("no rev"), 404),
    (NoSafetensorsError("no safetensors"), 422),
    (ConfigError("config.json is a list"), 422),
    (RateLimitedError("429 Too Many Requests", retry_after=12.2), 429),
    (NetworkError("500 Internal Server Error after 4 attempts"), 502),
    (CorruptHeaderError("header length 2^40"), 502),
    (OfflineError("offline"), 503),
    (HubmemError("418 I'm a teapot"), 502),
    (RuntimeError("a bug, with a secret inside: hf_reader_token"), 500),
]


@pytest.mark.parametrize(
    ("exc", "status"), ERROR_CASES, ids=[type(e).__name__ + str(s) for e, s in ERROR_CASES]
)
async def test_error_kinds_map_to_statuses(
    make_service: ServiceFactory, exc: BaseException, status: int
) -> None:
    backend = FakeBackend(default_repos(), fail={"org/public": exc})
    svc = await make_service(backend=backend)
    got, headers, data = await svc.get("/v1/models/org/public")
    assert got == status
    assert headers["Content-Type"].startswith("application/json")
    err = data["error"]
    assert err["status"] == status
    if isinstance(exc, HubmemError):
        assert err["kind"] == exc.kind and err["message"] == exc.message
    else:
        assert err["kind"] == "internal" and err["message"] == "Internal server error."
    assert "Traceback" not in json.dumps(data) and "hf_reader_token" not in json.dumps(data)
    if status == 429:
        assert headers["Retry-After"] == "13"  # ceil(12.2)
    if status == 401:
        assert headers["WWW-Authenticate"].startswith("Bearer")


async def test_rate_limit_without_retry_after_uses_default(make_service: ServiceFactory) -> None:
    backend = FakeBackend(default_repos(), fail={"org/public": RateLimitedError("429")})
    svc = await make_service(Settings(default_retry_after=7), backend)
    status, headers, _ = await svc.get("/v1/models/org/public")
    assert status == 429 and headers["Retry-After"] == "7"


async def test_errors_are_not_cached(make_service: ServiceFactory) -> None:
    backend = FakeBackend(default_repos(), fail={"org/public": NetworkError("boom")})
    svc = await make_service(backend=backend)
    assert (await svc.get("/v1/models/org/public"))[0] == 502
    backend.fail.clear()
    assert (await svc.get("/v1/models/org/public"))[0] == 200
    assert len(backend.calls) == 2


async def test_cache_hit_and_revision_echo(make_service: ServiceFactory) -> None:
    svc = await make_service()
    s1, h1, d1 = await svc.get("/v1/models/org/public?revision=v1")
    s2, h2, d2 = await svc.get("/v1/models/org/public?revision=v1")
    assert (s1, s2) == (200, 200)
    assert (h1["X-Hubmem-Cache"], h2["X-Hubmem-Cache"]) == ("miss", "hit")
    assert d1 == d2
    assert len(svc.backend.calls) == 1
    # the same commit asked for by sha: one cheap revalidation instead of a full analysis
    s3, h3, d3 = await svc.get(f"/v1/models/org/public?revision={sha(2)}")
    assert s3 == 200 and h3["X-Hubmem-Cache"] == "revalidated"
    assert d3["revision"] == sha(2) and d3["commit"] == sha(2)
    assert {k: v for k, v in d3.items() if k != "revision"} == {
        k: v for k, v in d1.items() if k != "revision"
    }
    assert len(svc.backend.calls) == 1 and len(svc.backend.resolves) == 1
    # different options are a different result, built from the cached snapshot (no upstream fetch)
    _, h4, d4 = await svc.get("/v1/models/org/public?revision=v1&context=4096")
    assert h4["X-Hubmem-Cache"] == "snapshot" and d4["commit"] == sha(2)
    assert len(svc.backend.calls) == 1 and len(svc.backend.builds) == 2
    assert svc.backend.builds[-1][1].kv.context == 4096


async def test_resolution_ttl_revalidates_and_follows_a_moved_branch(make_service: ServiceFactory) -> None:
    backend = FakeBackend(default_repos())
    svc = await make_service(Settings(resolve_ttl=0.0), backend)
    assert (await svc.get("/v1/models/org/public"))[1]["X-Hubmem-Cache"] == "miss"
    _, h, _ = await svc.get("/v1/models/org/public")
    assert h["X-Hubmem-Cache"] == "revalidated"
    assert len(backend.calls) == 1 and len(backend.resolves) == 1
    backend.repos["org/public"].commits["main"] = sha(9)  # a push to main
    _, h, d = await svc.get("/v1/models/org/public")
    assert h["X-Hubmem-Cache"] == "miss" and d["commit"] == sha(9)
    assert len(backend.calls) == 2


async def test_token_isolation_for_gated_results(make_service: ServiceFactory) -> None:
    svc = await make_service()
    b = svc.backend
    # A (reader) gets the gated report; it is now cached for A's scope
    s, h, a = await svc.get("/v1/models/org/gated", token=READER)
    assert s == 200 and h["X-Hubmem-Cache"] == "miss"
    s, h, _ = await svc.get("/v1/models/org/gated", token=READER)
    assert s == 200 and h["X-Hubmem-Cache"] == "hit"
    # B (no token) is refused although A's result is cached, and so on every try
    for _ in range(2):
        s, h, data = await svc.get("/v1/models/org/gated")
        assert s == 401 and data["error"]["kind"] == "gated"
    # C (valid token without access) is refused with 403
    s, _, data = await svc.get("/v1/models/org/gated", token=OUTSIDER)
    assert s == 403 and data["error"]["kind"] == "gated"
    # an invalid token is 401 unauthorized
    s, _, data = await svc.get("/v1/models/org/gated", token="hf_nonsense")
    assert s == 401 and data["error"]["kind"] == "unauthorized"
    # the upstream saw each caller's own credentials (never A's for B or C)
    assert [c[3] for c in b.calls] == [READER, None, None, OUTSIDER, "hf_nonsense"]
    assert a["weights"]["total_bytes"] == 512 * 512 * 2


async def test_private_repo_results_stay_with_their_token(make_service: ServiceFactory) -> None:
    svc = await make_service(Settings(resolve_ttl=0.0))
    assert (await svc.get("/v1/models/org/private", token=READER))[0] == 200
    s, _, data = await svc.get("/v1/models/org/private")
    assert s == 404 and data["error"]["kind"] == "not_found"
    s, _, _ = await svc.get("/v1/models/org/private", token=OUTSIDER)
    assert s == 404
    # the reader's own repeat is revalidated with the reader's token (private: resolve proves access)
    _, h, _ = await svc.get("/v1/models/org/private", token=READER)
    assert h["X-Hubmem-Cache"] == "revalidated"
    assert svc.backend.resolves[-1] == ("org/private", "main", READER)


async def test_public_results_are_shared_after_an_authorized_revalidation(
    make_service: ServiceFactory,
) -> None:
    svc = await make_service()
    assert (await svc.get("/v1/models/org/public"))[1]["X-Hubmem-Cache"] == "miss"
    # another caller with a token: one resolve with that token (checks it), then the public result
    s, h, _ = await svc.get("/v1/models/org/public", token=OUTSIDER)
    assert s == 200 and h["X-Hubmem-Cache"] == "revalidated"
    assert svc.backend.resolves == [("org/public", "main", OUTSIDER)]
    assert len(svc.backend.calls) == 1
    # an invalid token is refused even though the result is public and cached
    s, _, data = await svc.get("/v1/models/org/public", token="hf_nonsense")
    assert s == 401 and data["error"]["kind"] == "unauthorized"


async def test_server_token_is_never_used_unless_configured(make_service: ServiceFactory) -> None:
    svc = await make_service()
    assert (await svc.get("/v1/models/org/gated"))[0] == 401
    assert svc.backend.calls[-1][3] is None
    svc2 = await make_service(Settings(server_token=READER))
    assert (await svc2.get("/v1/models/org/gated"))[0] == 200
    assert svc2.backend.calls[-1][3] == READER


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer a b", "Token hf_x", "Bearer hf_x!y"])
async def test_malformed_authorization_is_401(make_service: ServiceFactory, header: str) -> None:
    svc = await make_service()
    async with svc.session.get(svc.url("/v1/models/org/public"), headers={"Authorization": header}) as r:
        data = await r.json()
        assert r.status == 401 and data["error"]["kind"] == "unauthorized"
    assert svc.backend.calls == []


async def test_single_flight_coalesces_concurrent_identical_requests(make_service: ServiceFactory) -> None:
    backend = FakeBackend(default_repos(), gate=asyncio.Event())
    svc = await make_service(backend=backend)
    n = 60
    tasks = [asyncio.create_task(svc.get("/v1/models/org/public?context=2048")) for _ in range(n)]
    while not backend.calls:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # let every request arrive while the first analysis is held
    backend.gate.set()  # type: ignore[union-attr]
    results = await asyncio.gather(*tasks)
    assert len(backend.calls) == 1
    assert all(s == 200 for s, _, _ in results)
    caches = sorted(h["X-Hubmem-Cache"] for _, h, _ in results)
    assert caches.count("miss") == 1 and caches.count("coalesced") == n - 1
    assert len({json.dumps(d, sort_keys=True) for _, _, d in results}) == 1


async def test_different_options_share_one_upstream_fetch(make_service: ServiceFactory) -> None:
    backend = FakeBackend(default_repos(), gate=asyncio.Event())
    svc = await make_service(backend=backend)
    tasks = [asyncio.create_task(svc.get(f"/v1/models/org/public?context={c}")) for c in range(1, 21)]
    while not backend.calls:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    backend.gate.set()  # type: ignore[union-attr]
    results = await asyncio.gather(*tasks)
    assert [s for s, _, _ in results] == [200] * 20
    assert len(backend.calls) == 1  # one snapshot fetch ...
    assert sorted(o.kv.context or 0 for _, o in backend.builds) == list(range(1, 21))  # ... 20 builds
    _, _, health = await svc.get("/healthz")
    assert health["cache"]["snapshots"] == 1 and health["cache"]["entries"] == 20


async def test_snapshot_lru_cap_is_respected(make_service: ServiceFactory) -> None:
    svc = await make_service(Settings(snapshot_entries=2))
    for repo in ("org/public", "gpt2", "org/public", "org/gated"):
        await svc.get(f"/v1/models/{repo}", token=READER)
    _, _, health = await svc.get("/healthz")
    assert health["cache"]["snapshots"] == 2 and health["cache"]["snapshot_evictions"] == 1


async def test_single_flight_is_per_token_scope(make_service: ServiceFactory) -> None:
    backend = FakeBackend(default_repos(), gate=asyncio.Event())
    svc = await make_service(backend=backend)
    tasks = [
        asyncio.create_task(svc.get("/v1/models/org/gated", token=t)) for t in (READER, None, OUTSIDER) * 5
    ]
    while len(backend.calls) < 3:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    backend.gate.set()  # type: ignore[union-attr]
    statuses = [s for s, _, _ in await asyncio.gather(*tasks)]
    assert statuses == [200, 401, 403] * 5
    assert sorted(c[3] or "" for c in backend.calls) == sorted(["", READER, OUTSIDER])


async def test_a_caller_going_away_does_not_cancel_the_shared_analysis(make_service: ServiceFactory) -> None:
    backend = FakeBackend(default_repos(), gate=asyncio.Event())
    svc = await make_service(backend=backend)
    first = asyncio.create_task(svc.get("/v1/models/org/public"))
    second = asyncio.create_task(svc.get("/v1/models/org/public"))
    while not backend.calls:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    first.cancel()  # the client disconnects
    await asyncio.sleep(0.05)
    backend.gate.set()  # type: ignore[union-attr]
    status, _, _ = await second
    assert status == 200 and len(backend.calls) == 1


async def test_upstream_timeout_is_504_and_nothing_stays_stuck(make_service: ServiceFactory) -> None:
    backend = FakeBackend(default_repos(), delay=5.0)
    svc = await make_service(Settings(upstream_timeout=0.2), backend)
    results = await asyncio.wait_for(asyncio.gather(*(svc.get("/v1/models/org/public") for _ in range(5))), 3)
    assert [s for s, _, _ in results] == [504] * 5
    assert results[0][2]["error"]["kind"] == "upstream_timeout"
    backend.delay = 0.0
    assert (await svc.get("/v1/models/org/public"))[0] == 200
    core = svc.app[CORE]
    assert len(core.fetches) == 0 and len(core.builds) == 0 and core.upstream_running == 0


async def test_lru_cap_is_respected(make_service: ServiceFactory) -> None:
    svc = await make_service(Settings(cache_entries=3))
    for ctx in range(1, 8):
        assert (await svc.get(f"/v1/models/org/public?context={ctx}"))[0] == 200
    _, _, health = await svc.get("/healthz")
    assert health["cache"]["entries"] == 3 and health["cache"]["evictions"] == 4
    # the most recent is still cached, the oldest is not
    assert (await svc.get("/v1/models/org/public?context=7"))[1]["X-Hubmem-Cache"] == "hit"
    assert (await svc.get("/v1/models/org/public?context=1"))[1]["X-Hubmem-Cache"] == "snapshot"
    assert len(svc.backend.calls) == 1  # one upstream fetch served every option set


async def test_lru_byte_cap_is_respected(make_service: ServiceFactory) -> None:
    svc = await make_service()
    _, _, one = await svc.get("/v1/models/org/public?context=1")
    size = len(json.dumps(one, separators=(",", ":")))
    svc2 = await make_service(Settings(cache_bytes=int(size * 2.5)))
    for ctx in range(1, 6):
        await svc2.get(f"/v1/models/org/public?context={ctx}")
    _, _, health = await svc2.get("/healthz")
    assert health["cache"]["entries"] == 2 and health["cache"]["bytes"] <= size * 2.5


async def test_check_route(make_service: ServiceFactory) -> None:
    svc = await make_service()
    status, _, data = await svc.get("/v1/models/org/public/check")
    assert status == 200 and CheckReport.model_validate(data).ok
    assert data["items"][0]["actual"] == 1000 * 64 * 2 + 64 * 4
    status, _, data = await svc.get("/v1/models/gpt2/check")
    assert status == 200 and svc.backend.builds[-1][0] == "check" and svc.backend.calls[-1][1] == "gpt2"
    assert svc.backend.hub_info == [True, True]  # the check's fetch reads the Hub's summary too
    status, _, data = await svc.get("/v1/models/org/gated/check")
    assert status == 401
    status, _, data = await svc.get("/v1/models/gpt2/check?batch=2")
    assert status == 422 and data["error"]["kind"] == "invalid_options"
    # a report of the same repo is a different fetch (without the Hub summary)
    assert (await svc.get("/v1/models/gpt2"))[0] == 200 and svc.backend.hub_info[-1] is False


async def read_lines(
    svc: Service, body: Any, query: str = "", token: str | None = None
) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with svc.session.post(svc.url("/v1/scan" + query), json=body, headers=headers) as r:
        assert r.status == 200, await r.text()
        assert r.content_type == "application/x-ndjson"
        return [json.loads(line) async for line in r.content if line.strip()]


async def test_scan_streams_one_row_per_repo(make_service: ServiceFactory) -> None:
    svc = await make_service()
    ids = ["org/public", "gpt2", "org/gated", "org/missing", "bad..id", "org/public"]
    rows = await read_lines(svc, ids, "?context=1024")
    assert sorted(r["repo_id"] for r in rows) == sorted(ids)
    by_id = {r["repo_id"]: r for r in rows}
    assert by_id["gpt2"]["ok"] and by_id["gpt2"]["report"]["weights"]["total_bytes"] == 50257 * 768 * 4
    assert by_id["org/gated"] == {**by_id["org/gated"], "ok": False, "status": 401}
    assert by_id["org/gated"]["error"]["kind"] == "gated" and by_id["org/gated"]["error"]["hint"]
    assert by_id["org/missing"]["error"]["kind"] == "not_found" and by_id["org/missing"]["status"] == 404
    assert by_id["bad..id"]["error"]["kind"] == "invalid_repo_id" and by_id["bad..id"]["status"] == 400
    assert all(Report.model_validate(r["report"]).kv_cache is None for r in rows if r["ok"])
    assert {o.kv.context for _, o in svc.backend.builds} == {1024}
    # the duplicate was served once upstream
    assert sum(1 for c in svc.backend.calls if c[1] == "org/public") == 1


async def test_scan_rows_arrive_as_each_repo_finishes(make_service: ServiceFactory) -> None:
    backend = FakeBackend(default_repos())
    slow = asyncio.Event()
    original = backend.fetch

    async def fetch(
        repo_id: str, revision: str, subfolder: str | None, token: str | None, *, hub_info: bool = False
    ) -> Fetched:
        if repo_id == "org/public":
            await slow.wait()
        return await original(repo_id, revision, subfolder, token, hub_info=hub_info)

    backend.fetch = fetch  # type: ignore[method-assign]
    svc = await make_service(backend=backend)
    async with svc.session.post(svc.url("/v1/scan"), json=["org/public", "gpt2"]) as r:
        first = json.loads(await asyncio.wait_for(r.content.readline(), 5))
        assert first["repo_id"] == "gpt2"  # streamed while org/public is still held
        slow.set()
        second = json.loads(await asyncio.wait_for(r.content.readline(), 5))
        assert second["repo_id"] == "org/public" and second["ok"]


async def test_scan_concurrency_is_bounded(make_service: ServiceFactory) -> None:
    backend = FakeBackend(
        {f"org/m{i}": FakeRepo([("F32", [i + 1])], {"main": sha(100 + i)}) for i in range(20)}
    )
    running = peak = 0
    original = backend.fetch

    async def fetch(
        repo_id: str, revision: str, subfolder: str | None, token: str | None, *, hub_info: bool = False
    ) -> Fetched:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1
        return await original(repo_id, revision, subfolder, token, hub_info=hub_info)

    backend.fetch = fetch  # type: ignore[method-assign]
    svc = await make_service(Settings(scan_concurrency=3), backend)
    rows = await read_lines(svc, [f"org/m{i}" for i in range(20)])
    assert len(rows) == 20 and all(r["ok"] for r in rows)
    assert peak == 3
    assert {r["report"]["weights"]["total_bytes"] for r in rows} == {4 * (i + 1) for i in range(20)}


async def test_scan_limits_and_bad_bodies(make_service: ServiceFactory) -> None:
    svc = await make_service(Settings(scan_max_repos=5, client_max_size=2048))
    url = svc.url("/v1/scan")
    cases: list[tuple[Any, int, str]] = [
        ([f"org/m{i}" for i in range(6)], 413, "payload_too_large"),
        ({"repos": ["a/b"]}, 422, "invalid_options"),
        ([1, 2], 422, "invalid_options"),
        ("org/public", 422, "invalid_options"),
    ]
    for body, status, kind in cases:
        async with svc.session.post(url, json=body) as r:
            assert r.status == status, body
            assert (await r.json())["error"]["kind"] == kind
    async with svc.session.post(url, data=b"[not json", headers={"Content-Type": "application/json"}) as r:
        assert r.status == 400 and (await r.json())["error"]["kind"] == "invalid_request"
    async with svc.session.post(url, data=b"[" + b'"a/b",' * 1000 + b'"a/b"]') as r:
        assert r.status == 413 and (await r.json())["error"]["kind"] == "payload_too_large"
    async with svc.session.post(url + "?context=0", json=["org/public"]) as r:
        assert r.status == 422
    rows = await read_lines(svc, {"repo_ids": ["gpt2"]})
    assert rows[0]["ok"]
    assert await read_lines(svc, []) == []
    assert svc.backend.calls == [("fetch", "gpt2", "main", None)]


async def test_scan_token_is_per_request(make_service: ServiceFactory) -> None:
    svc = await make_service()
    rows = await read_lines(svc, ["org/gated"], token=READER)
    assert rows[0]["ok"]
    rows = await read_lines(svc, ["org/gated"])
    assert not rows[0]["ok"] and rows[0]["status"] == 401
    rows = await read_lines(svc, ["org/gated"], token=OUTSIDER)
    assert rows[0]["status"] == 403


async def test_healthz_metrics_and_unknown_routes(make_service: ServiceFactory) -> None:
    svc = await make_service()
    await svc.get("/v1/models/org/public")
    await svc.get("/v1/models/org/public")
    await svc.get("/v1/models/org/missing")
    status, _, health = await svc.get("/healthz")
    assert status == 200 and health["status"] == "ok" and health["endpoint"] == "http://hub.invalid"
    status, headers, text = await svc.get("/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_]\w*="([^"\\]|\\.)*",?)*\})? -?[0-9.e+Inf-]+$')
    samples: dict[str, float] = {}
    for line in text.strip().splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) \w+ ", line), line
            continue
        assert sample.match(line), line
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)
    assert samples['hubmem_cache_requests_total{kind="report",outcome="hit"}'] == 1
    assert samples['hubmem_cache_requests_total{kind="report",outcome="miss"}'] == 1
    assert samples['hubmem_upstream_fetches_total{outcome="error"}'] == 1
    assert (
        samples['hubmem_http_requests_total{method="GET",route="/v1/models/{org}/{name}",status="404"}'] == 1
    )
    assert samples["hubmem_cache_entries"] == 1
    for path, method, status, kind in [
        ("/nope", "GET", 404, "not_found"),
        ("/v1/models/a/b/c/d", "GET", 404, "not_found"),
        ("/v1/scan", "GET", 405, "method_not_allowed"),
        ("/healthz", "POST", 405, "method_not_allowed"),
    ]:
        async with svc.session.request(method, svc.url(path)) as r:
            assert r.status == status
            assert (await r.json())["error"]["kind"] == kind


async def test_openapi_document(make_service: ServiceFactory) -> None:
    svc = await make_service()
    status, _, doc = await svc.get("/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.1")
    schemas = doc["components"]["schemas"]
    assert {"Report", "CheckReport", "ErrorBody", "ScanRow", "Health", "WeightsReport"} <= set(schemas)

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    for ref in refs(doc):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
    get = doc["paths"]["/v1/models/{org}/{name}"]["get"]
    names = [p["name"] for p in get["parameters"] if p["in"] == "query"]
    assert names == list(QUERY_PARAMS)
    assert {"200", "400", "401", "403", "404", "422", "429", "502", "504"} <= set(get["responses"])
    # the report schema is the pydantic one: every Report field is described
    assert set(schemas["Report"]["properties"]) == set(Report.model_fields)
    engine = next(p for p in get["parameters"] if p["name"] == "engine")
    assert set(engine["schema"]["enum"]) == {"transformers", "vllm", "llama.cpp"}
    assert set(doc["paths"]) >= {"/v1/scan", "/v1/models/{name}", "/v1/models/{org}/{name}/check", "/healthz"}


async def test_page_is_served(make_service: ServiceFactory) -> None:
    svc = await make_service()
    status, headers, text = await svc.get("/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert 'id="repo"' in text and "/v1/models/" in text


async def test_tokens_never_reach_the_logs(
    make_service: ServiceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    backend = FakeBackend(default_repos(), fail={"org/boom": RuntimeError("unexpected")})
    svc = await make_service(backend=backend)
    for repo in ("org/gated", "org/private", "org/boom", "org/missing"):
        for token in SECRET_TOKENS:
            await svc.get(f"/v1/models/{repo}", token=token)
    await read_lines(svc, ["org/gated", "org/boom"], token=READER)
    assert any("internal error" in r.getMessage() for r in caplog.records)  # the log did capture things
    text = caplog.text + "".join(repr(r.__dict__) for r in caplog.records)
    for token in SECRET_TOKENS:
        assert token not in text
