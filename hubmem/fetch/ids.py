"""Repo ids, subfolders and commit shas, checked in one place for the Hub fetch, local loads, scans,
the service and the fake Hub."""

from __future__ import annotations

import re
from urllib.parse import unquote

import msgspec

from hubmem.errors import InvalidRepoIdError

SHA = re.compile(r"[0-9a-f]{40}")  # a full commit sha; match it whole (``is_sha``)


def is_sha(value: str) -> bool:
    """Whether ``value`` is a full 40-hex commit sha."""
    return SHA.fullmatch(value) is not None


def validate_repo_id(repo_id: str) -> str:
    """huggingface_hub's rules ('name' or 'namespace/name'), failing with hubmem's ``InvalidRepoIdError``."""
    # imported here: huggingface_hub.utils imports httpx2, which a local path's report never needs
    from huggingface_hub.utils import validate_repo_id as hf_validate_repo_id

    try:
        hf_validate_repo_id(repo_id)
    except Exception as exc:  # HFValidationError (a ValueError), or a non-string
        raise InvalidRepoIdError(f"invalid repo id {repo_id!r}: {exc}") from None
    return repo_id


def norm_subfolder(subfolder: str | None) -> str | None:
    """A folder inside the repo without surrounding slashes (None for the root); '.' or '..' is refused."""
    if subfolder is None:
        return None
    cleaned = subfolder.strip().strip("/")
    if not cleaned:
        return None
    if any(part in ("", ".", "..") for part in cleaned.split("/")):
        raise InvalidRepoIdError(f"invalid subfolder {subfolder!r}")
    return cleaned


_HUB_URL = re.compile(r"^(?:https?://)?(?:www\.)?(?:huggingface\.co|hf\.co)/(?P<path>[^?#]*)", re.IGNORECASE)
_FILE_VIEWS = ("blob", "resolve")


class Target(msgspec.Struct, frozen=True):
    """What a user named on the command line: ``org/name``, ``org/name@rev`` or a Hub URL
    (``https://huggingface.co/org/name``, ``hf.co/org/name/tree/<rev>[/folder]``,
    ``.../blob/<rev>/path/file.gguf``), split into the repo id and what the URL or ``@`` adds."""

    repo_id: str
    revision: str | None = None
    subfolder: str | None = None
    file: str | None = None  # the file a /blob/ or /resolve/ URL points at (path inside the subfolder)


def is_hub_url(text: str) -> bool:
    """``https://huggingface.co/...``, ``hf.co/...`` (with or without the scheme)."""
    return _HUB_URL.match(text.strip()) is not None


def parse_target(text: str) -> Target:
    """Split a Hub URL or ``org/name@rev`` (a plain repo id comes back as it is, unchecked)."""
    m = _HUB_URL.match(text.strip())
    if m is None:
        repo_id, at, revision = text.partition("@")
        return Target(repo_id, unquote(revision) if at else None)
    parts = [unquote(p) for p in m.group("path").strip("/").split("/") if p]
    if parts[:1] in (["datasets"], ["spaces"]):
        raise InvalidRepoIdError(f"{text!r} is a {parts[0][:-1]}, not a model repo")
    n = 1 if len(parts) > 1 and parts[1] in ("tree", *_FILE_VIEWS) else 2
    repo_id, rest = "/".join(parts[:n]), parts[n:]
    if not repo_id:
        raise InvalidRepoIdError(
            f"{text!r} does not name a repo", hint="e.g. https://huggingface.co/org/name"
        )
    if len(rest) < 2 or rest[0] not in ("tree", *_FILE_VIEWS):
        return Target(repo_id)
    revision, path = rest[1], rest[2:]
    if rest[0] == "tree":
        return Target(repo_id, revision, "/".join(path) or None)
    if not path:
        raise InvalidRepoIdError(f"{text!r} names no file", hint="e.g. .../blob/main/model-Q4_K_M.gguf")
    return Target(repo_id, revision, "/".join(path[:-1]) or None, path[-1])
