"""Repo ids, subfolders and commit shas, checked in one place for the Hub fetch, local loads, scans,
the service and the fake Hub."""

from __future__ import annotations

import re

from huggingface_hub.utils import validate_repo_id as hf_validate_repo_id

from hubmem.errors import InvalidRepoIdError

SHA = re.compile(r"[0-9a-f]{40}")  # a full commit sha; match it whole (``is_sha``)


def is_sha(value: str) -> bool:
    """Whether ``value`` is a full 40-hex commit sha."""
    return SHA.fullmatch(value) is not None


def validate_repo_id(repo_id: str) -> str:
    """huggingface_hub's rules ('name' or 'namespace/name'), failing with hubmem's ``InvalidRepoIdError``."""
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
