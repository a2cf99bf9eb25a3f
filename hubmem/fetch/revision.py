"""The revision request (``GET /api/models/{id}/revision/{rev}``) and the commit sha a revision resolves
to: one implementation for the fetch, scan resumes and the service's revalidation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from hubmem.errors import NetworkError
from hubmem.fetch.http.client import HubClient
from hubmem.fetch.http.trace import Trace
from hubmem.fetch.ids import is_sha


def snapshot_expand(*, with_hub_info: bool, scoped: bool) -> list[str]:
    """What the fetch expands: ``sha`` and ``siblings`` (+ ``safetensors``, ``gated`` with ``with_hub_info``;
    + ``gated``, ``private`` when ``scoped``, i.e. a cache is used)."""
    expand = ["sha", "siblings"] + (["safetensors", "gated"] if with_hub_info else [])
    if scoped:  # cached content of gated/private repos is scoped to the token
        expand += [e for e in ("gated", "private") if e not in expand]
    return expand


async def revision_info(
    client: HubClient, repo_id: str, revision: str, expand: Iterable[str], *, trace: Trace | None = None
) -> dict[str, Any] | None:
    """``GET /api/models/{id}/revision/{rev}?expand=...``: the answer, None when it is not a JSON object."""
    url = client.api_url(repo_id, "revision", quote(revision, safe=""))
    data, _ = await client.get_json(
        url, params=[("expand", e) for e in expand], trace=trace, repo_id=repo_id, revision=revision
    )
    return data if isinstance(data, dict) else None


def commit_of(info: Mapping[str, Any] | None) -> str | None:
    """The commit sha the revision info reports, None when it reports none."""
    sha = info.get("sha") if info is not None else None
    return sha if isinstance(sha, str) and is_sha(sha) else None


def resolved_sha(info: Mapping[str, Any], repo_id: str, revision: str) -> str:
    """The commit sha of the revision info; the revision itself when it already is a sha."""
    sha = commit_of(info)
    if sha is not None:
        return sha
    if is_sha(revision):
        return revision
    raise NetworkError(
        f"{repo_id}: the Hub did not report a commit sha for revision {revision!r}", repo_id=repo_id
    )


async def current_commit(client: HubClient, repo_id: str, revision: str) -> str | None:
    """The sha ``revision`` resolves to now: itself when it is a sha, else one API request (None when
    the Hub does not say)."""
    if is_sha(revision):
        return revision
    return commit_of(await revision_info(client, repo_id, revision, ["sha"]))
