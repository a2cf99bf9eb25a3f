"""Revision resolution: the revision info request, and the commit sha a revision resolves to."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from hubmem.errors import NetworkError
from hubmem.fetch.http.client import HubClient
from hubmem.fetch.http.trace import Trace
from hubmem.fetch.ids import is_sha


async def revision_info(
    client: HubClient, repo_id: str, revision: str, trace: Trace, *, with_hub_info: bool, scoped: bool
) -> dict[str, Any]:
    """``GET /api/models/{id}/revision/{rev}?expand=sha&expand=siblings`` (+ ``safetensors``,
    ``gated`` with ``with_hub_info``; + ``gated``, ``private`` when ``scoped``, i.e. a cache is used)."""
    expand = ["sha", "siblings"] + (["safetensors", "gated"] if with_hub_info else [])
    if scoped:  # cached content of gated/private repos is scoped to the token
        expand += [e for e in ("gated", "private") if e not in expand]
    url = client.api_url(repo_id, "revision", quote(revision, safe=""))
    data, _ = await client.get_json(
        url,
        params=[("expand", e) for e in expand],
        trace=trace,
        repo_id=repo_id,
        path=None,
        revision=revision,
    )
    if not isinstance(data, dict):
        raise NetworkError(f"{repo_id}: the revision info is not a JSON object", repo_id=repo_id)
    return data


def resolved_sha(info: dict[str, Any], repo_id: str, revision: str) -> str:
    """The commit sha of the revision info; the revision itself when it already is a sha."""
    sha = info.get("sha")
    if not (isinstance(sha, str) and is_sha(sha)):
        if is_sha(revision):
            sha = revision
        else:
            raise NetworkError(
                f"{repo_id}: the Hub did not report a commit sha for revision {revision!r}",
                repo_id=repo_id,
            )
    return sha
