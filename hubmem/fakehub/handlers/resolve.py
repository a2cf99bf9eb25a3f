"""File routes on the Hub origin: /{repo}/resolve|raw/{rev}/{path} and /api/resolve-cache/models/..."""

from __future__ import annotations

import time
from urllib.parse import quote

from aiohttp import web

from hubmem.fakehub.context import Context
from hubmem.fakehub.faults import DEFAULT_SLOW_DELAY
from hubmem.fakehub.fixtures.repo import Repo, RepoFile
from hubmem.fakehub.fixtures.vfile import VirtualFile
from hubmem.fakehub.handlers.auth import (
    authenticate,
    check_gated,
    load_repo,
    resolve_revision,
    revision_not_found,
)
from hubmem.fakehub.handlers.http import EXPOSE, HubError, state, stream_file, text_response, weak_etag
from hubmem.fakehub.routing import Route


def _content_type(path: str) -> str:
    if path.endswith((".json", ".txt", ".md", ".py", ".yaml", ".yml", ".model", ".jinja")):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


def _file_headers(sha: str, etag: str, path: str) -> dict[str, str]:
    name = path.rsplit("/", 1)[-1]
    return {
        "X-Repo-Commit": sha,
        "ETag": f'"{etag}"',
        "Content-Type": _content_type(path),
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}; filename=\"{name}\";",
        "Access-Control-Expose-Headers": EXPOSE,
        "Vary": "Origin, Accept",
    }


async def _serve_regular(
    request: web.Request, ctx: Context, f: RepoFile, sha: str, content: VirtualFile, etag: str
) -> web.StreamResponse:
    headers = _file_headers(sha, etag, f.path)
    if request.headers.get("If-None-Match") in (f'"{etag}"', f'W/"{etag}"'):
        return web.Response(status=304, headers=headers)
    slow = state(request).slow
    c = ctx.faults.config
    return await stream_file(
        request,
        content,
        headers=headers,
        slow_delay=(c.slow_body_delay or DEFAULT_SLOW_DELAY) if slow else 0.0,
        slow_chunk=c.slow_body_chunk,
    )


def _lookup(request: web.Request, ctx: Context, route: Route) -> tuple[Repo, str, RepoFile]:
    token = authenticate(request, ctx.store)
    repo = load_repo(ctx.store, route.repo_id, token)
    check_gated(repo, token)
    sha = resolve_revision(repo, route.revision or "main")
    f = repo.files.get(route.path)
    if f is None:
        raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": sha})
    return repo, sha, f


def _redirect(status: int, location: str, headers: dict[str, str]) -> web.Response:
    reason = "Found" if status == 302 else "Temporary Redirect"
    body = f"{reason}. Redirecting to {location}"
    return text_response(body, status=status, headers={"Location": location, **headers})


async def resolve(request: web.Request, ctx: Context, route: Route) -> web.StreamResponse:
    repo, sha, f = _lookup(request, ctx, route)
    if route.kind == "raw":  # the git blob: the pointer file for LFS files
        content = VirtualFile.from_bytes(f.pointer) if f.lfs else f.content
        return await _serve_regular(request, ctx, f, sha, content, f.git_oid)
    if f.lfs:
        ctx.store.register_oid(f)
        expires = int(time.time()) + ctx.options.url_ttl
        cdn_path = f"/xet-bridge-us/{repo.object_id}/{f.lfs_oid}"
        name = quote(f.path.rsplit("/", 1)[-1])
        disposition = quote(f"inline; filename*=UTF-8''{name}; filename=\"{name}\";", safe="")
        location = (
            f"{ctx.cdn_url}{cdn_path}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires={ctx.options.url_ttl}"
            f"&X-Xet-Cas-Uid=public&response-content-disposition={disposition}&x-id=GetObject"
            f"&Expires={expires}&Signature={ctx.sign(cdn_path, expires)}&Key-Pair-Id=K2HUBMEMFAKEHUB"
        )
        body_etag = weak_etag(location.encode())
        return _redirect(
            302,
            location,
            {
                "X-Repo-Commit": sha,
                "X-Linked-Etag": f'"{f.lfs_oid}"',
                "X-Linked-Size": str(f.size),
                "ETag": body_etag,
                "Access-Control-Expose-Headers": EXPOSE,
                "Vary": "Origin, Accept",
            },
        )
    if ctx.redirects_regular(f.path):
        rev = route.revision or "main"
        original = f"/{repo.repo_id}/resolve/{quote(rev, safe='')}/{quote(f.path)}"
        location = (
            f"/api/resolve-cache/models/{repo.repo_id}/{sha}/{quote(f.path)}"
            f"?{quote(original, safe='')}=&etag=%22{f.git_oid}%22"
        )
        return _redirect(307, location, {"Access-Control-Expose-Headers": EXPOSE, "Vary": "Origin, Accept"})
    return await _serve_regular(request, ctx, f, sha, f.content, f.git_oid)


async def resolve_cache(request: web.Request, ctx: Context, route: Route) -> web.StreamResponse:
    token = authenticate(request, ctx.store)
    repo = load_repo(ctx.store, route.repo_id, token)
    check_gated(repo, token)
    sha = route.revision or ""
    if sha not in repo.commits:
        raise revision_not_found(sha)
    f = repo.files.get(route.path)
    if f is None:
        raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": sha})
    return await _serve_regular(request, ctx, f, sha, f.content, f.git_oid)
