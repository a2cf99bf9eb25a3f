"""Revision resolution: repo id / subfolder checks, the revision info request, and the commit sha
a revision resolves to."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from huggingface_hub.utils import validate_repo_id

from hubmem.errors import InvalidRepoIdError, NetworkError
from hubmem.fetch.http.client import HubClient
from hubmem.fetch.http.trace import Trace

SHA = re.compile(r"^[0-9a-f]{40}$")


def validate(repo_id: str) -> None:
    try:
        validate_repo_id(repo_id)
    except Exception as exc:  # HFValidationError (a ValueError), or a non-string
        raise InvalidRepoIdError(f"invalid repo id {repo_id!r}: {exc}", repo_id=str(repo_id)) from None


def norm_subfolder(subfolder: str | None) -> str | None:
    if subfolder is None:
        return None
    cleaned = subfolder.strip().strip("/")
    if not cleaned:
        return None
    if any(part in ("", ".", "..") for part in cleaned.split("/")):
        raise InvalidRepoIdError(f"invalid subfolder {subfolder!r}")
    return cleaned


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
    if not (isinstance(sha, str) and SHA.match(sha)):
        if SHA.match(revision):
            sha = revision
        else:
            raise NetworkError(
                f"{repo_id}: the Hub did not report a commit sha for revision {revision!r}",
                repo_id=repo_id,
            )
    return sha
