"""Scan targets from the Hub's model listing (``hubmem scan --author ORG --search TEXT --filter TAG --sort
downloads --limit N``), through huggingface_hub's ``HfApi.list_models``.

One listing request returns a page of up to 1,000 repos with ``expand=sha,lastModified``: each repo's current
commit comes with its id, so an incremental scan knows which repos changed without one request per repo.
huggingface_hub follows the ``Link: rel="next"`` pages and retries each page with its backoff, waiting out a
429 for the ``RateLimit`` reset (or ``Retry-After``) it announces (docs/hub-protocol.md 1.11, 3.2).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import msgspec

from hubmem.errors import HubmemError, NetworkError, RateLimitedError, UnauthorizedError
from hubmem.scan.input import Target

EXPAND = ["sha", "lastModified"]  # what an incremental scan needs; heavier keys make every page larger
SORTS = ("downloads", "likes", "last_modified", "created_at", "trending_score")


class Listing(msgspec.Struct, frozen=True):
    author: str | None = None
    search: str | None = None
    filters: tuple[str, ...] = ()
    sort: str | None = None  # one of SORTS (descending, as the Hub sorts)
    limit: int | None = None

    @property
    def given(self) -> bool:
        return bool(self.author or self.search or self.filters or self.sort or self.limit)


def _hub_error(exc: Exception) -> HubmemError:
    response: Any = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    message = f"model listing failed: {exc}"
    if status == 401:
        return UnauthorizedError(message)
    if status == 429:
        return RateLimitedError(message)
    return NetworkError(message, status=status if isinstance(status, int) else None)


def list_targets(
    listing: Listing, *, endpoint: str | None, token: str | bool | None, revision: str = "main"
) -> list[Target]:
    """Every listed repo as a target at the commit the listing gives (blocking: run it in a thread)."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token)
    out: list[Target] = []
    try:
        for info in api.list_models(
            author=listing.author,
            search=listing.search,
            filter=list(listing.filters) or None,
            sort=listing.sort,  # type: ignore[arg-type]  # one of SORTS, checked by the CLI
            limit=listing.limit,
            expand=EXPAND,  # type: ignore[arg-type]
        ):
            modified = info.last_modified.isoformat() if info.last_modified else None
            out.append(Target(info.id, revision, commit=info.sha, last_modified=modified))
    except HubmemError:
        raise
    except Exception as exc:  # huggingface_hub's HTTP and transport errors: one typed error
        raise _hub_error(exc) from None
    return out


async def listed_targets(listing: Listing, *, endpoint: str | None, token: str | bool | None) -> list[Target]:
    return await asyncio.to_thread(list_targets, listing, endpoint=endpoint, token=token)


def in_shard(repo_id: str, shard: tuple[int, int] | None) -> bool:
    """``--shard K/N``: whether this repo is the K-th (1-based) of N processes' share (a stable hash of the
    id, so several machines split one listing without talking to each other)."""
    if shard is None:
        return True
    k, n = shard
    digest = int.from_bytes(hashlib.sha1(repo_id.encode()).digest()[:8], "big")
    return digest % n == k - 1
