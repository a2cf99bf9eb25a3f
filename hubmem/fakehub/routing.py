"""Routing on the raw (undecoded) path, so that ``refs%2Fpr%2F1`` stays one revision segment."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from hubmem.fakehub.handlers.http import HubError

API_MARKERS = ("revision", "tree", "paths-info", "refs", "safetensors-metadata")
FILE_MARKERS = ("resolve", "raw")
OTHER_TYPES = ("datasets", "spaces", "kernels")


@dataclass(frozen=True)
class Route:
    kind: str  # model_list | model_info | tree | paths_info | refs | st_metadata | resolve | raw
    #            | resolve_cache | whoami | agent_harnesses
    #            | other_type (datasets/spaces: no fixtures) | not_found
    repo_id: str = ""
    revision: str | None = None
    path: str = ""

    @property
    def bucket(self) -> str:
        if self.kind in ("resolve", "raw", "resolve_cache"):
            return "resolvers"
        if self.kind == "not_found":
            return "pages"
        return "api"


def _repo_id(segments: list[str]) -> str:
    decoded = [unquote(s) for s in segments]
    if any("/" in s for s in decoded):  # %2F inside the repo id: the Hub answers 400
        raise HubError(400, "Invalid repo name: the repo id must not contain an encoded '/'", "BadRequest")
    return "/".join(decoded)


def _join(segments: list[str]) -> str:
    """File path from raw segments; each is unquoted, so both a/b and a%2Fb give 'a/b'."""
    return "/".join(unquote(s) for s in segments if s != "")


def _split_repo(segs: list[str], markers: tuple[str, ...]) -> tuple[list[str], list[str]] | None:
    """(repo segments, the rest): 'org/name' when the third segment is a marker, else 'name'."""
    if len(segs) >= 2 and (len(segs) == 2 or segs[2] in markers):
        return segs[:2], segs[2:]
    if len(segs) >= 1 and (len(segs) == 1 or segs[1] in markers):
        return segs[:1], segs[1:]
    return None


def parse_route(raw_path: str) -> Route:
    segs = raw_path.lstrip("/").split("/")
    if segs and segs[-1] == "" and len(segs) > 1:
        segs = segs[:-1]
    if segs[:1] == ["api"]:
        return _parse_api(segs[1:])
    if segs and segs[0] in OTHER_TYPES and len(segs) > 3:
        split = _split_repo(segs[1:], FILE_MARKERS)
        if split is not None:
            return Route("other_type", _repo_id(split[0]))
    split = _split_repo(segs, FILE_MARKERS)
    if split is None or not split[1] or split[1][0] not in FILE_MARKERS or len(split[1]) < 2:
        return Route("not_found")
    repo_segs, rest = split
    kind, rev, file_segs = rest[0], unquote(rest[1]), rest[2:]
    # web routes also accept a literal refs/pr/N (API routes do not: see _parse_api)
    if rev == "refs" and len(file_segs) >= 2 and file_segs[0] == "pr" and file_segs[1].isdigit():
        rev, file_segs = f"refs/pr/{file_segs[1]}", file_segs[2:]
    return Route(kind, _repo_id(repo_segs), rev, _join(file_segs))


def _parse_api(segs: list[str]) -> Route:
    if segs == ["whoami-v2"]:
        return Route("whoami")
    if segs == ["models"]:
        return Route("model_list")
    if segs == ["agent-harnesses"]:
        return Route("agent_harnesses")
    if segs[:2] == ["resolve-cache", "models"]:
        return _parse_resolve_cache(segs[2:])
    if not segs or segs[0] not in ("models", *OTHER_TYPES):
        return Route("not_found")
    split = _split_repo(segs[1:], API_MARKERS)
    if split is None:
        return Route("not_found")
    repo_segs, tail = split
    repo_id = _repo_id(repo_segs)
    if segs[0] != "models":
        return Route("other_type", repo_id)
    if not tail:
        return Route("model_info", repo_id, None)
    return _parse_model_api(repo_id, tail[0], tail[1:])


def _parse_resolve_cache(rest: list[str]) -> Route:
    """/api/resolve-cache/models/{org}/{name}/{sha}/{path}"""
    for n in (2, 1):
        if len(rest) > n + 1 and len(rest[n]) == 40:
            return Route("resolve_cache", _repo_id(rest[:n]), rest[n], _join(rest[n + 1 :]))
    return Route("not_found")


def _parse_model_api(repo_id: str, marker: str, args: list[str]) -> Route:
    """/api/models/{repo}/{marker}/{args...}"""
    if marker == "refs":
        return Route("refs", repo_id) if not args else Route("not_found")
    if not args:
        return Route("not_found")
    if marker == "revision":
        # an unencoded refs/pr/1 makes the revision "refs" (-> RevisionNotFound), like the real Hub
        return Route("model_info", repo_id, unquote(args[0]))
    if marker == "tree":
        return Route("tree", repo_id, unquote(args[0]), _join(args[1:]))
    if marker == "paths-info":
        return Route("paths_info", repo_id, unquote(args[0]))
    if marker == "safetensors-metadata":
        return Route("st_metadata", repo_id, "main", _join(args))
    return Route("not_found")
