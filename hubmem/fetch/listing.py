"""File sizes at a commit: the recursive tree listing and ``paths-info``."""

from __future__ import annotations

import re
from typing import Any

import httpx2

from hubmem.errors import HubmemError
from hubmem.fetch.http.client import HubClient
from hubmem.fetch.http.response import HubResponse
from hubmem.fetch.http.trace import Trace

_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_MAX_TREE_PAGES = 1000


async def tree_sizes(
    client: HubClient, repo_id: str, revision: str, sha: str, trace: Trace, warnings: list[str]
) -> dict[str, int]:
    """Recursive tree listing at the sha (paginated with ``Link: rel="next"``): path -> size.

    Only for ``with_hub_info``; a failure is a warning (appended to ``warnings``), not an error."""
    url: str | None = client.api_url(repo_id, "tree", sha)
    params: Any = {"recursive": "true", "expand": "false"}
    sizes: dict[str, int] = {}
    pages = 0
    try:
        while url is not None and pages < _MAX_TREE_PAGES:
            data, response = await client.get_json(
                url, params=params, trace=trace, repo_id=repo_id, path=None, revision=revision
            )
            pages += 1
            for entry in data if isinstance(data, list) else []:
                size = entry_size(entry)
                if size is not None:
                    sizes[entry["path"]] = size
            url, params = next_link(response), None
    except HubmemError as exc:
        warnings.append(f"tree listing failed, file sizes incomplete: {exc}")
    return sizes


async def paths_sizes(
    client: HubClient, repo_id: str, revision: str, sha: str, paths: list[str], trace: Trace
) -> dict[str, int]:
    """``POST /api/models/{id}/paths-info/{sha}`` for exactly these paths: path -> size."""
    url = client.api_url(repo_id, "paths-info", sha)
    data, _ = await client.post_json(
        url, {"paths": paths, "expand": "false"}, trace=trace, repo_id=repo_id, revision=revision
    )
    sizes: dict[str, int] = {}
    for entry in data if isinstance(data, list) else []:
        size = entry_size(entry)
        if size is not None:
            sizes[entry["path"]] = size
    return sizes


def entry_size(entry: Any) -> int | None:
    if (
        not isinstance(entry, dict)
        or entry.get("type", "file") != "file"
        or not isinstance(entry.get("path"), str)
    ):
        return None
    lfs = entry.get("lfs")
    size = (
        lfs.get("size") if isinstance(lfs, dict) and isinstance(lfs.get("size"), int) else entry.get("size")
    )
    return size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None


def next_link(response: HubResponse) -> str | None:
    link = response.headers.get("link")
    if not link:
        return None
    for part in link.split(","):
        m = _LINK_NEXT.search(part)
        if m:
            return str(httpx2.URL(response.url).join(m.group(1)))
    return None
