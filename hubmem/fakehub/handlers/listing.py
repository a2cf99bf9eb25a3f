"""``GET /api/models``: the model listing over the fixtures (hub-protocol 1.11), as ``HfApi.list_models``
reads it.

Filters ``author`` (the namespace, case-insensitive), ``search`` (a substring of the id, case-insensitive)
and ``filter`` (tags, every one must match; repeatable); ``sort`` by ``downloads``, ``likes``,
``lastModified``, ``createdAt``, ``trendingScore`` or ``id`` (descending, as the Hub sorts; ties and no
sort: by id); ``limit`` caps the whole result; ``expand`` picks the keys of each item as on
``/api/models/{id}``. Pages of ``list_page_size`` items (1000 like the Hub) chained by ``Link:
<...&cursor=...>; rel="next"``. Private repos are listed only for tokens that may read them; disabled repos
are not listed.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hubmem.fakehub.context import Context
from hubmem.fakehub.fixtures.repo import Repo, Token
from hubmem.fakehub.handlers.api import (
    EXPANDABLE,
    decode_cursor,
    model_info_full,
    next_page_header,
)
from hubmem.fakehub.handlers.auth import authenticate
from hubmem.fakehub.handlers.http import HubError, json_response
from hubmem.fakehub.routing import Route

# keys of a listing item without expand (the Hub's short form)
LIST_DEFAULT_KEYS = [
    "_id",
    "id",
    "likes",
    "trendingScore",
    "private",
    "downloads",
    "tags",
    "pipeline_tag",
    "library_name",
    "createdAt",
    "modelId",
]
SORT_KEYS = frozenset(["downloads", "likes", "lastModified", "createdAt", "trendingScore", "id"])


def _visible(repo: Repo, token: Token | None) -> bool:
    if repo.disabled:
        return False
    return not repo.private or (token is not None and token.can_read_private(repo.repo_id))


def _matches(info: dict[str, Any], q: Any) -> bool:
    repo_id: str = info["id"]
    author = q.get("author")
    if author and repo_id.split("/")[0].lower() != author.lower():
        return False
    search = q.get("search")
    if search and search.lower() not in repo_id.lower():
        return False
    tags = set(info.get("tags") or ())
    return all(t in tags for t in q.getall("filter", []))


def _limit(q: Any) -> int | None:
    raw = q.get("limit")
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise HubError(400, '"limit" must be an integer', "BadRequest") from None
    if value < 1:
        raise HubError(400, '"limit" must be positive', "BadRequest")
    return value


def _sorted(items: list[dict[str, Any]], sort: str | None) -> list[dict[str, Any]]:
    items.sort(key=lambda i: i["id"])
    if sort is None:
        return items
    if sort not in SORT_KEYS:
        raise HubError(400, f'"sort" must be one of {sorted(SORT_KEYS)}', "BadRequest")
    return sorted(items, key=lambda i: i.get(sort) or 0, reverse=True)  # stable: ties stay by id


def list_models(request: web.Request, ctx: Context, route: Route) -> web.Response:
    token = authenticate(request, ctx.store)
    q = request.query
    expand = [*q.getall("expand", []), *q.getall("expand[]", [])]
    unknown = [e for e in expand if e not in EXPANDABLE]
    if unknown:
        raise HubError(400, f'"expand" must be one of {sorted(EXPANDABLE)} (got {unknown})', "BadRequest")
    infos = [
        model_info_full(repo, repo.resolve_revision("main") or repo.sha, blobs=False)
        for repo in ctx.store.repos.values()
        if _visible(repo, token)
    ]
    items = _sorted([i for i in infos if _matches(i, q)], q.get("sort"))
    limit = _limit(q)
    total = len(items) if limit is None else min(limit, len(items))
    offset = decode_cursor(q["cursor"]) if "cursor" in q else 0
    size = ctx.options.list_page_size
    page = items[offset : min(offset + size, total)]
    keys = ["_id", "id", *expand] if expand else LIST_DEFAULT_KEYS
    body = [{k: item[k] for k in keys if k in item} for item in page]
    return json_response(body, headers=next_page_header(request, offset + size, total))


def agent_harnesses(request: web.Request, ctx: Context, route: Route) -> web.Response:
    """``GET /api/agent-harnesses``: the registry huggingface_hub 2.x reads (at most once a day, cached in
    HF_HOME) to name an AI agent in its user agent; an empty one (hub-protocol 1.10)."""
    return json_response({"standardEnvVars": [], "harnesses": {}})
