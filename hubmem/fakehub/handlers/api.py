"""/api/... handlers: model info, tree (paginated), paths-info, refs, safetensors-metadata, whoami."""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from hubmem.fakehub.context import Context
from hubmem.fakehub.fixtures.repo import Repo, Token
from hubmem.fakehub.handlers.auth import authenticate, check_gated, load_repo, resolve_revision
from hubmem.fakehub.handlers.http import HubError, json_response
from hubmem.fakehub.routing import Route

# ExpandModelProperty_T of huggingface_hub 2.4 (+ xetEnabled, hub-docs #1632)
EXPANDABLE = frozenset(
    [
        "author",
        "baseModels",
        "cardData",
        "childrenModelCount",
        "config",
        "createdAt",
        "disabled",
        "downloads",
        "downloadsAllTime",
        "evalResults",
        "gated",
        "gguf",
        "inference",
        "inferenceProviderMapping",
        "lastModified",
        "library_name",
        "likes",
        "mask_token",
        "model-index",
        "pipeline_tag",
        "private",
        "resourceGroup",
        "safetensors",
        "sha",
        "siblings",
        "spaces",
        "tags",
        "transformersInfo",
        "trendingScore",
        "usedStorage",
        "widgetData",
        "xetEnabled",
    ]
)
# keys of the default (no expand) response, hub-protocol 1.7 (only those that apply are sent)
DEFAULT_KEYS = [
    "_id",
    "author",
    "cardData",
    "config",
    "createdAt",
    "disabled",
    "downloads",
    "gated",
    "id",
    "inference",
    "lastModified",
    "library_name",
    "likes",
    "mask_token",
    "model-index",
    "modelId",
    "pipeline_tag",
    "private",
    "safetensors",
    "sha",
    "siblings",
    "spaces",
    "tags",
    "transformersInfo",
    "usedStorage",
    "widgetData",
]
TRUE = ("1", "true", "True", "yes")


def _config_summary(config: Any) -> dict[str, Any] | None:
    """The subset of config.json the API repeats under ``config``."""
    if not isinstance(config, dict):
        return None
    out: dict[str, Any] = {}
    architectures = config.get("architectures")
    if isinstance(architectures, list) and all(isinstance(a, str) for a in architectures):
        out["architectures"] = architectures
    if isinstance(config.get("model_type"), str):
        out["model_type"] = config["model_type"]
    qc = config.get("quantization_config")
    if isinstance(qc, dict) and isinstance(qc.get("quant_method"), str):
        out["quantization_config"] = {"quant_method": qc["quant_method"]}
    return out


def model_info_full(repo: Repo, sha: str, *, blobs: bool) -> dict[str, Any]:
    config = repo.json_file("config.json")
    has_st = any(p.endswith(".safetensors") for p in repo.files)
    has_gguf = any(p.endswith(".gguf") for p in repo.files)
    tags = [t for t in ("transformers" if config is not None else "", "safetensors" if has_st else "") if t]
    tags += ["gguf"] if has_gguf else []
    if isinstance(config, dict) and isinstance(config.get("model_type"), str):
        tags.append(config["model_type"])
    info: dict[str, Any] = {
        "_id": repo.object_id,
        "id": repo.repo_id,
        "modelId": repo.repo_id,
        "author": repo.repo_id.split("/")[0],
        "sha": sha,
        "lastModified": "2025-01-01T00:00:00.000Z",
        "createdAt": "2024-01-01T00:00:00.000Z",
        "private": repo.private,
        "gated": repo.gated,
        "disabled": repo.disabled,
        "downloads": 0,
        "downloadsAllTime": 0,
        "likes": 0,
        "trendingScore": 0,
        "tags": [*tags, "region:us"],
        "spaces": [],
        "siblings": [f.sibling(blobs=blobs) for _, f in sorted(repo.files.items())],
        "usedStorage": sum(f.size for f in repo.files.values()),
        "xetEnabled": False,
    }
    if config is not None:
        info["library_name"] = "transformers"
        info["config"] = _config_summary(config)
    summary = repo.safetensors_summary
    if summary is not None:
        info["safetensors"] = summary
    info.update({k: v for k, v in repo.hub.items() if k != "safetensors"})
    return info


def model_info(request: web.Request, ctx: Context, route: Route) -> web.Response:
    token = authenticate(request, ctx.store)
    repo = load_repo(ctx.store, route.repo_id, token)
    sha = resolve_revision(repo, route.revision if route.revision is not None else "main")
    q = request.query
    expand = [*q.getall("expand", []), *q.getall("expand[]", [])]
    unknown = [e for e in expand if e not in EXPANDABLE]
    if unknown:
        raise HubError(400, f'"expand" must be one of {sorted(EXPANDABLE)} (got {unknown})', "BadRequest")
    full = model_info_full(repo, sha, blobs=q.get("blobs") in TRUE)
    keys = ["_id", "id", *expand] if expand else DEFAULT_KEYS
    return json_response({k: full[k] for k in keys if k in full})


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"file_offset": offset}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return int(json.loads(raw)["file_offset"])
    except (RecursionError, ValueError, KeyError, TypeError) as exc:
        raise HubError(400, "Invalid cursor", "BadRequest") from exc


def tree(request: web.Request, ctx: Context, route: Route) -> web.Response:
    token = authenticate(request, ctx.store)
    repo = load_repo(ctx.store, route.repo_id, token)
    rev = route.revision or "main"
    sha = resolve_revision(repo, rev)
    q = request.query
    recursive, expand = q.get("recursive") in TRUE, q.get("expand") in TRUE
    entries = repo.tree(route.path, recursive=recursive, expand=expand, commit=sha)
    if entries is None:
        raise HubError(404, f'{route.path} does not exist on "{rev}"', "EntryNotFound")
    size = ctx.options.tree_expand_page_size if expand else ctx.options.tree_page_size
    offset = decode_cursor(q["cursor"]) if "cursor" in q else 0
    page = entries[offset : offset + size]
    return json_response(page, headers=next_page_header(request, offset + size, len(entries)))


def next_page_header(request: web.Request, next_offset: int, total: int) -> dict[str, str]:
    """``Link: <same URL with cursor=...>; rel="next"`` while entries remain (hub-protocol 1.8)."""
    if next_offset >= total:
        return {}
    q = request.query
    params = [(k, v) for k, v in q.items() if k != "cursor"] + [("cursor", encode_cursor(next_offset))]
    url = f"{request.scheme}://{request.host}{request.rel_url.raw_path}?{urlencode(params)}"
    return {"Link": f'<{url}>; rel="next"'}


async def paths_info(request: web.Request, ctx: Context, route: Route) -> web.Response:
    token = authenticate(request, ctx.store)
    repo = load_repo(ctx.store, route.repo_id, token)
    sha = resolve_revision(repo, route.revision or "main")
    paths: list[str]
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except (RecursionError, ValueError) as exc:
            raise HubError(400, "Invalid JSON body", "BadRequest") from exc
        raw_paths = body.get("paths") if isinstance(body, dict) else None
        paths = [raw_paths] if isinstance(raw_paths, str) else list(raw_paths or [])
        expand = bool(body.get("expand")) if isinstance(body, dict) else False
    else:
        form = await request.post()
        paths = [str(p) for p in form.getall("paths", [])]
        expand = str(form.get("expand", "false")) in TRUE
    if not paths or not all(isinstance(p, str) for p in paths):
        raise HubError(400, '"paths" is required: a list of paths in the repo', "BadRequest")
    seen: list[str] = []
    for p in (p.strip("/") for p in paths):
        if p and p not in seen and repo.exists(p):
            seen.append(p)
    return json_response([repo.entry(p, expand=expand, commit=sha) for p in seen])


_TAG = re.compile(r"^v?\d")


def refs(request: web.Request, ctx: Context, route: Route) -> web.Response:
    token = authenticate(request, ctx.store)
    repo = load_repo(ctx.store, route.repo_id, token)
    out: dict[str, list[dict[str, str]]] = {"branches": [], "tags": [], "converts": []}
    prs: list[dict[str, str]] = []
    for name, sha in sorted(repo.refs.items()):
        if name.startswith("refs/pr/"):
            prs.append({"name": name, "ref": name, "targetCommit": sha})
        elif name.startswith("refs/convert/"):
            out["converts"].append({"name": name[13:], "ref": name, "targetCommit": sha})
        elif name.startswith("refs/tags/") or (not name.startswith("refs/heads/") and _TAG.match(name)):
            short = name.removeprefix("refs/tags/")
            out["tags"].append({"name": short, "ref": f"refs/tags/{short}", "targetCommit": sha})
        else:
            short = name.removeprefix("refs/heads/")
            out["branches"].append({"name": short, "ref": f"refs/heads/{short}", "targetCommit": sha})
    body: dict[str, Any] = dict(out)
    if request.query.get("include_prs") in TRUE:
        body["pullRequests"] = prs
    return json_response(body)


def safetensors_metadata(request: web.Request, ctx: Context, route: Route) -> web.Response:
    """{"index": index minus weight_map, "headers": {shard: header}} for an index on main."""
    token = authenticate(request, ctx.store)
    repo = load_repo(ctx.store, route.repo_id, token)
    sha = resolve_revision(repo, "main")
    check_gated(repo, token)
    index_path = route.path
    index = repo.json_file(index_path)
    if index_path not in repo.files:
        raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": sha})
    if not isinstance(index, dict) or not isinstance(index.get("weight_map"), dict):
        raise HubError(400, f"{index_path} is not a safetensors index", "BadRequest")
    folder = index_path.rsplit("/", 1)[0] + "/" if "/" in index_path else ""
    headers: dict[str, Any] = {}
    for shard in sorted({str(v) for v in index["weight_map"].values()}):
        f = repo.files.get(folder + shard)
        header = f.header_json() if f is not None else None
        if header is None:
            raise HubError(400, f"Could not parse the safetensors header of {folder + shard}", "BadRequest")
        headers[shard] = header
    return json_response({"index": {k: v for k, v in index.items() if k != "weight_map"}, "headers": headers})


def whoami(request: web.Request, ctx: Context) -> web.Response:
    token: Token | None = authenticate(request, ctx.store)
    if token is None:
        raise HubError(401, "Invalid username or password.")
    return json_response(
        {
            "type": "user",
            "id": quote(token.user),
            "name": token.user,
            "orgs": [{"name": o} for o in token.orgs],
            "auth": {"type": "access_token", "accessToken": {"displayName": "fixture", "role": "read"}},
        }
    )
