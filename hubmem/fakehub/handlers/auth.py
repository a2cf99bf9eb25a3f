"""The Hub's auth matrix (hub-protocol 3.1): invalid token, missing/private, gated and disabled repos."""

from __future__ import annotations

from aiohttp import web

from hubmem.fakehub.fixtures.repo import Repo, Token
from hubmem.fakehub.fixtures.store import FixtureStore
from hubmem.fakehub.handlers.http import DISABLED, INVALID_CREDENTIALS, HubError


def authenticate(request: web.Request, store: FixtureStore) -> Token | None:
    """None for anonymous requests; 401 (no X-Error-Code) for any token the fixtures do not know."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    token = store.tokens.get(value.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        raise HubError(401, INVALID_CREDENTIALS)
    return token


def repo_not_found(token: Token | None) -> HubError:
    if token is None:  # the Hub hides existence from anonymous users
        return HubError(401, "Invalid username or password.", "RepoNotFound")
    return HubError(404, "Repository not found", "RepoNotFound")


def load_repo(store: FixtureStore, repo_id: str, token: Token | None) -> Repo:
    repo = store.get(repo_id)
    if repo is None or (repo.private and (token is None or not token.can_read_private(repo_id))):
        raise repo_not_found(token)
    if repo.disabled:
        raise HubError(403, DISABLED)
    return repo


def check_gated(repo: Repo, token: Token | None) -> None:
    """Content routes only (resolve and friends): metadata and tree listings stay open."""
    if not repo.gated:
        return
    if token is None:
        raise HubError(
            401,
            f"Access to model {repo.repo_id} is restricted. You must have access to it and be authenticated "
            "to access it. Please log in.",
            "GatedRepo",
        )
    if not token.can_access_gated(repo.repo_id):
        raise HubError(
            403,
            f"Access to model {repo.repo_id} is restricted and you are not in the authorized list. "
            f"Visit https://huggingface.co/{repo.repo_id} to ask for access.",
            "GatedRepo",
        )


def revision_not_found(rev: str) -> HubError:
    return HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")


def resolve_revision(repo: Repo, rev: str) -> str:
    sha = repo.resolve_revision(rev)
    if sha is None:
        raise revision_not_found(rev)
    return sha
