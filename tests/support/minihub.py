"""Support for the fetch tests: a small in-memory Hub (served through httpx2's MockTransport) and safetensors
builders.

The Hub here follows docs/hub-protocol.md: revision info with ``expand``, ``resolve`` with a
302 to a CDN on another origin (``X-Repo-Commit``, ``X-Linked-Size`` on the 302), regular files served
directly, Range -> 206 + Content-Range, the 401/403/404 auth matrix with ``X-Error-Code``, tree with
``Link`` pagination, paths-info, and the optional safetensors-metadata route (``main`` only).
The CDN refuses any request that carries ``Authorization``, so a token leak fails loudly.
"""

from __future__ import annotations

import json
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx2
import numpy as np
from safetensors.numpy import load, save

from support.mockhttp import Router

ENDPOINT = "https://hub.test"
CDN = "https://cdn.test"
GOOD_TOKEN = "hf_good_token"
OTHER_TOKEN = "hf_other_token"  # valid, but without access to gated repos


# -- safetensors builders ------------------------------------------------------------------------------


def st_bytes(
    tensors: dict[str, np.ndarray],
    *,
    metadata: dict[str, str] | None = None,
    header_length: int | None = None,
) -> bytes:
    """A real safetensors file (written by the safetensors library); with ``header_length`` the JSON
    header is re-padded with trailing spaces (allowed by the format) to exactly that many bytes."""
    raw = save(tensors, metadata=metadata)
    (n,) = struct.unpack("<Q", raw[:8])
    if header_length is None:
        return raw
    js = raw[8 : 8 + n].rstrip(b" ")
    assert header_length >= len(js), (header_length, len(js))
    return struct.pack("<Q", header_length) + js + b" " * (header_length - len(js)) + raw[8 + n :]


def header_length_of(raw: bytes) -> int:
    return int(struct.unpack("<Q", raw[:8])[0])


def expected_layout(raw: bytes) -> dict[str, tuple[tuple[int, ...], int]]:
    """name -> (shape, nbytes), computed by loading the file with the safetensors library."""
    return {name: (tuple(a.shape), int(a.nbytes)) for name, a in load(raw).items()}


def tensors(n: int, prefix: str = "model.layers", shape: tuple[int, ...] = (2, 3)) -> dict[str, np.ndarray]:
    return {
        f"{prefix}.{i}.weight": np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape) + i
        for i in range(n)
    }


def sharded_files(shards: list[dict[str, np.ndarray]], *, prefix: str = "") -> dict[str, bytes]:
    """Shard files + a model.safetensors.index.json for them (under ``prefix``)."""
    files: dict[str, bytes] = {}
    weight_map: dict[str, str] = {}
    total = 0
    count = len(shards)
    for i, group in enumerate(shards, start=1):
        name = f"model-{i:05d}-of-{count:05d}.safetensors"
        files[prefix + name] = st_bytes(group)
        for tname, arr in group.items():
            weight_map[tname] = name
            total += int(arr.nbytes)
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    files[prefix + "model.safetensors.index.json"] = json.dumps(index).encode()
    return files


CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4}


def config_bytes(**extra: Any) -> bytes:
    return json.dumps({**CONFIG, **extra}).encode()


# -- the in-memory Hub ---------------------------------------------------------------------------------


@dataclass
class Repo:
    commits: dict[str, dict[str, bytes]]  # sha -> path -> bytes
    refs: dict[str, str]  # branch / tag / refs/pr/N -> sha
    gated: bool = False
    private: bool = False
    disabled: bool = False
    info_sha: str | None = None  # force the sha the revision info reports (simulates a ref moving)


@dataclass
class Seen:
    method: str
    url: str
    raw_path: str
    headers: dict[str, str]
    time: float
    body: bytes = b""


@dataclass
class MiniHub:
    endpoint: str = ENDPOINT
    cdn: str = CDN
    repos: dict[str, Repo] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    route: bool = True  # offer the safetensors-metadata route
    ignore_range: bool = False  # the CDN answers 200 with the whole body
    chunk: int = 4096  # CDN body chunk size (for streamed answers)
    chunks_sent: int = 0
    tree_page: int = 1000
    fault: Callable[[httpx2.Request], httpx2.Response | None] | None = None
    clock: Callable[[], float] = lambda: 0.0
    cdn_gate: Any = None  # an async callable awaited by every CDN request (concurrency tests)

    def add(
        self,
        repo_id: str,
        files: dict[str, bytes],
        *,
        sha: str = "a" * 40,
        refs: dict[str, str] | None = None,
        **flags: Any,
    ) -> Repo:
        repo = Repo({sha: dict(files)}, dict(refs or {"main": sha}), **flags)
        self.repos[repo_id] = repo
        return repo

    def install(self, router: Router) -> None:
        router.route(host=httpx2.URL(self.endpoint).host).mock(side_effect=self.hub)
        router.route(host=httpx2.URL(self.cdn).host).mock(side_effect=self.serve_cdn)

    # -- helpers

    def calls(self, host: str | None = None, contains: str = "") -> list[Seen]:
        return [
            s
            for s in self.seen
            if (host is None or httpx2.URL(s.url).host == host) and contains in s.raw_path
        ]

    def _record(self, request: httpx2.Request) -> None:
        self.seen.append(
            Seen(
                request.method,
                str(request.url),
                request.url.raw_path.decode(),
                {k.lower(): v for k, v in request.headers.items()},
                self.clock(),
                request.content,
            )
        )

    @staticmethod
    def _error(status: int, code: str | None, message: str, **headers: str) -> httpx2.Response:
        h = {"x-error-message": message, "x-request-id": "req-123", **headers}
        if code:
            h["x-error-code"] = code
        return httpx2.Response(status, headers=h, json={"error": message})

    def _token(self, request: httpx2.Request) -> str | None:
        auth = request.headers.get("authorization")
        return auth.split(" ", 1)[1] if auth and " " in auth else None

    def _sha(self, repo: Repo, rev: str) -> str | None:
        if rev in repo.refs:
            return repo.refs[rev]
        if rev in repo.commits:
            return rev
        return None

    # -- Hub origin

    async def hub(self, request: httpx2.Request) -> httpx2.Response:
        self._record(request)
        if self.fault is not None:
            injected = self.fault(request)
            if injected is not None:
                return injected
        token = self._token(request)
        if token is not None and token not in (GOOD_TOKEN, OTHER_TOKEN):
            return self._error(401, None, "Invalid credentials in Authorization header")
        parts = [unquote(p) for p in request.url.raw_path.decode().split("?")[0].split("/")[1:]]
        if parts[:2] == ["api", "models"]:
            return self._api(request, parts[2:], token)
        if len(parts) >= 5 and parts[2] == "resolve":
            return self._resolve(request, f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]), token)
        return self._error(404, None, "Not Found")

    def _repo_or_error(self, repo_id: str, token: str | None) -> Repo | httpx2.Response:
        repo = self.repos.get(repo_id)
        if repo is None or (repo.private and token != GOOD_TOKEN):
            if token is None:
                return self._error(401, None, "Invalid username or password.")
            return self._error(404, "RepoNotFound", "Repository not found")
        if repo.disabled:
            return self._error(403, None, "Access to this resource is disabled.")
        return repo

    def _api(self, request: httpx2.Request, rest: list[str], token: str | None) -> httpx2.Response:
        repo_id = "/".join(rest[:2])
        repo = self._repo_or_error(repo_id, token)
        if isinstance(repo, httpx2.Response):
            return repo
        kind = rest[2] if len(rest) > 2 else ""
        if kind == "safetensors-metadata" and self.route:
            return self._api_safetensors_metadata(repo, "/".join(rest[3:]))
        handlers = {
            "revision": self._api_revision,
            "tree": self._api_tree,
            "paths-info": self._api_paths_info,
        }
        if kind not in handlers:
            return self._error(404, None, "Not Found")
        sha = self._sha(repo, rest[3])
        if sha is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {rest[3]}")
        return handlers[kind](request, repo_id, repo, sha, rest[3])

    def _api_revision(
        self, request: httpx2.Request, repo_id: str, repo: Repo, sha: str, rev: str
    ) -> httpx2.Response:
        query = parse_qs(request.url.query.decode())
        sha = repo.info_sha or sha
        files = repo.commits[sha]
        expand = set(query.get("expand", []) + query.get("expand[]", []))
        body: dict[str, Any] = {"_id": "x", "id": repo_id}
        if "sha" in expand:
            body["sha"] = sha
        if "siblings" in expand:
            body["siblings"] = [{"rfilename": p} for p in sorted(files)]
        if "gated" in expand:
            body["gated"] = "manual" if repo.gated else False
        if "safetensors" in expand:
            params: dict[str, int] = {}
            for path, raw in files.items():
                if path.endswith(".safetensors"):
                    for arr in load(raw).values():
                        key = {"float32": "F32", "float16": "F16", "int64": "I64"}[str(arr.dtype)]
                        params[key] = params.get(key, 0) + int(arr.size)
            body["safetensors"] = {"parameters": params, "total": sum(params.values())}
        return httpx2.Response(200, json=body)

    def _api_tree(
        self, request: httpx2.Request, repo_id: str, repo: Repo, sha: str, rev: str
    ) -> httpx2.Response:
        query = parse_qs(request.url.query.decode())
        entries = [
            {"type": "file", "path": p, "size": len(b), "oid": "0"}
            for p, b in sorted(repo.commits[sha].items())
        ]
        start = int(query.get("cursor", ["0"])[0])
        page = entries[start : start + self.tree_page]
        headers = {}
        if start + self.tree_page < len(entries):
            nxt = f"{self.endpoint}/api/models/{repo_id}/tree/{rev}"
            nxt += f"?recursive=true&cursor={start + self.tree_page}"
            headers["link"] = f'<{nxt}>; rel="next"'
        return httpx2.Response(200, json=page, headers=headers)

    def _api_paths_info(
        self, request: httpx2.Request, repo_id: str, repo: Repo, sha: str, rev: str
    ) -> httpx2.Response:
        form = parse_qs(request.content.decode())
        files = repo.commits[sha]
        out = [
            {"type": "file", "path": p, "size": len(files[p])} for p in form.get("paths", []) if p in files
        ]
        return httpx2.Response(200, json=out)

    def _api_safetensors_metadata(self, repo: Repo, index_path: str) -> httpx2.Response:
        files = repo.commits[repo.refs["main"]]
        if index_path not in files:
            return self._error(404, "EntryNotFound", f"{index_path} does not exist on main")
        index = json.loads(files[index_path])
        base = index_path.rsplit("/", 1)[0] + "/" if "/" in index_path else ""
        headers_out = {}
        for shard in sorted(set(index["weight_map"].values())):
            raw = files[base + shard]
            n = header_length_of(raw)
            headers_out[shard] = json.loads(raw[8 : 8 + n])
        return httpx2.Response(
            200,
            json={"index": {k: v for k, v in index.items() if k != "weight_map"}, "headers": headers_out},
        )

    def _resolve(
        self, request: httpx2.Request, repo_id: str, rev: str, path: str, token: str | None
    ) -> httpx2.Response:
        repo = self._repo_or_error(repo_id, token)
        if isinstance(repo, httpx2.Response):
            return repo
        if repo.gated and token != GOOD_TOKEN:
            if token is None:
                return self._error(
                    401,
                    "GatedRepo",
                    f"Access to model {repo_id} is restricted. You must have access to it and be "
                    "authenticated to access it. Please log in.",
                )
            return self._error(
                403,
                "GatedRepo",
                f"Access to model {repo_id} is restricted and you are not in the authorized list. "
                f"Visit https://huggingface.co/{repo_id} to ask for access.",
            )
        sha = self._sha(repo, rev)
        if sha is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        files = repo.commits[sha]
        if path not in files:
            return self._error(
                404, "EntryNotFound", f"{path} does not exist on {rev}", **{"x-repo-commit": sha}
            )
        data = files[path]
        if path.endswith(".safetensors"):
            return httpx2.Response(
                302,
                headers={
                    "location": f"{self.cdn}/{repo_id}/{sha}/{path}?X-Amz-Signature=abc",
                    "x-repo-commit": sha,
                    "x-linked-size": str(len(data)),
                    "x-linked-etag": '"' + "e" * 64 + '"',
                    "content-type": "text/plain; charset=utf-8",
                },
                content=b"Found. Redirecting",
            )
        return self._ranged(request, data, {"x-repo-commit": sha, "etag": '"abc"'})

    # -- CDN origin

    async def serve_cdn(self, request: httpx2.Request) -> httpx2.Response:
        self._record(request)
        if self.fault is not None:
            injected = self.fault(request)
            if injected is not None:
                return injected
        if "authorization" in request.headers:
            return httpx2.Response(400, text="Only one auth mechanism allowed (token leaked to the CDN)")
        if self.cdn_gate is not None:
            await self.cdn_gate()
        parts = [unquote(p) for p in request.url.raw_path.decode().split("?")[0].split("/")[1:]]
        repo_id, sha, path = "/".join(parts[:2]), parts[2], "/".join(parts[3:])
        data = self.repos[repo_id].commits[sha][path]
        return self._ranged(request, data, {"etag": '"' + "f" * 64 + '"', "accept-ranges": "bytes"})

    def _ranged(self, request: httpx2.Request, data: bytes, headers: dict[str, str]) -> httpx2.Response:
        rng = request.headers.get("range")
        if rng and not self.ignore_range:
            start_s, end_s = rng.removeprefix("bytes=").split("-")
            start = int(start_s)
            if start >= len(data):
                return httpx2.Response(416, headers={"content-range": f"bytes */{len(data)}"})
            end = min(int(end_s), len(data) - 1)
            return httpx2.Response(
                206,
                headers={**headers, "content-range": f"bytes {start}-{end}/{len(data)}"},
                content=data[start : end + 1],
            )
        return httpx2.Response(
            200, headers={**headers, "content-length": str(len(data))}, content=self._stream(data)
        )

    def _stream(self, data: bytes) -> AsyncIterator[bytes]:
        async def gen() -> AsyncIterator[bytes]:
            for i in range(0, len(data), self.chunk):
                self.chunks_sent += 1
                yield data[i : i + self.chunk]

        return gen()


class FakeTime:
    """An injectable clock + sleep: sleeping advances the clock instantly and is recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        import asyncio

        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)
