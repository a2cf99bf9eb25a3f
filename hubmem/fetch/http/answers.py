"""Map Hub HTTP answers to hubmem's typed errors (one line, the Hub's own message included).

Order (same as ``huggingface_hub.utils.hf_raise_for_status``): the ``X-Error-Code`` header first
(``RepoNotFound``, ``GatedRepo``, ``RevisionNotFound``, ``EntryNotFound``), then the status code.
Unlike huggingface_hub, the 401 -> "repo not found" rule applies to http:// endpoints too (a fake
Hub or a mirror on 127.0.0.1 behaves like the real one).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping

import httpx2

from hubmem.errors import (
    DisabledRepoError,
    EntryNotFoundError,
    GatedRepoError,
    HubmemError,
    NetworkError,
    RateLimitedError,
    RepoNotFoundError,
    RevisionNotFoundError,
    UnauthorizedError,
)
from hubmem.formats.json_reader import load_json

_MAX_MESSAGE = 400
_MAX_ERROR_BODY = 65536  # the part of an error body that is read for the Hub's explanation
_INVALID_CREDENTIALS = re.compile(r"invalid (credentials|(user )?token|authorization)", re.I)
_DISABLED = re.compile(r"disabled", re.I)
ENDPOINT_HINT = (
    "Check the endpoint (HF_ENDPOINT or --endpoint): an http:// or https:// URL of a host that resolves."
)
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@]*@")


def one_line(text: str, limit: int = _MAX_MESSAGE) -> str:
    """Collapse whitespace and cut to ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def hub_message(headers: Mapping[str, str], body: bytes) -> str:
    """The Hub's explanation: ``X-Error-Message``, the JSON ``error``/``errors``, or a short text body."""
    parts: list[str] = []
    text = body[:_MAX_ERROR_BODY].decode("utf-8", errors="replace").strip()
    for value in [headers.get("x-error-message"), *(_body_messages(text) if text else [])]:
        if isinstance(value, str) and value.strip() and value.strip() not in parts:
            parts.append(value.strip())
    return one_line("; ".join(parts))


def _body_messages(text: str) -> list[object]:
    """What an error body says: its JSON ``error``, ``error_description`` and ``errors[].message``, or
    the text itself (not an HTML page)."""
    try:
        data = load_json(text, max_bytes=_MAX_ERROR_BODY)
    except ValueError:
        return [] if text.lstrip().startswith("<") else [text[:_MAX_MESSAGE]]
    if not isinstance(data, dict):
        return []
    err = data.get("error")
    out: list[object] = list(err) if isinstance(err, list) else [err]
    out.append(data.get("error_description"))
    errors = data.get("errors")
    if isinstance(errors, list):
        out.extend(item.get("message") for item in errors if isinstance(item, dict))
    return out


def _request_id(headers: Mapping[str, str]) -> str | None:
    for key in ("x-request-id", "x-amzn-trace-id", "x-amz-cf-id"):
        if headers.get(key):
            return headers[key]
    return None


def _text(status: int, reason: str, message: str, headers: Mapping[str, str], what: str) -> str:
    head = f"{what}: {status} {reason}".rstrip()
    out = f"{head}: {message}" if message else head
    rid = _request_id(headers)
    if rid:
        out += f" (request id {rid})"
    return one_line(out, limit=_MAX_MESSAGE + 200)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``Retry-After`` (delta seconds or an HTTP date), if present."""
    from email.utils import parsedate_to_datetime

    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    import datetime as _dt

    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    return max(0.0, (when - _dt.datetime.now(_dt.UTC)).total_seconds())


def redact(url: str) -> str:
    """``url`` without the ``user:password@`` part, for messages (``htp://user:pw@host`` -> ``htp://host``)."""
    return _USERINFO.sub(r"\1", url)


def name_not_resolved(exc: BaseException) -> bool:
    """Whether a connection failed because the host name does not resolve (retrying will not help)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, socket.gaierror):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def exchange_failed(
    exc: Exception, attempts: int, url: str, repo_id: str | None, path: str | None
) -> NetworkError:
    """The error for timeouts / connection failures that outlasted the retries (or, for a host name that
    does not resolve, the first attempt)."""
    kind = "timed out" if isinstance(exc, httpx2.TimeoutException) else "connection failed"
    hint = None
    if name_not_resolved(exc):
        kind, hint = "host name not found", ENDPOINT_HINT
    where = f"{repo_id}: {path}" if repo_id and path else (repo_id or redact(url))
    detail = str(exc) or type(exc).__name__
    tries = "" if attempts == 1 else f" after {attempts} attempts"
    return NetworkError(one_line(f"{where}: {kind}{tries} ({detail})"), repo_id=repo_id, hint=hint)


def error_from_response(
    *,
    status: int,
    reason: str,
    headers: Mapping[str, str],
    body: bytes,
    url: str,
    repo_id: str | None,
    revision: str | None = None,
    path: str | None = None,
    authenticated: bool = False,
    endpoint: str | None = None,
    retry_after: float | None = None,
) -> HubmemError:
    """The typed error for a final (non-retried) error response."""
    message = hub_message(headers, body)
    what = repo_id or redact(url)
    if path:
        what = f"{what}: {path}"
    if revision and revision != "main" and not path:
        what = f"{what}@{revision}"
    page = f"{redact(endpoint)}/{repo_id}" if endpoint and repo_id else "the model page"
    cls, hint = _by_code(headers.get("x-error-code", ""), status, authenticated, page) or _by_status(
        status, message, path, authenticated
    )
    text = _text(status, reason, message, headers, what)
    return cls(text, hint=hint, repo_id=repo_id, status=status, retry_after=retry_after)


Kind = tuple[type[HubmemError], str | None]  # the error class and its hint (None: the class's own)
_BY_CODE: dict[str, type[HubmemError]] = {
    "RepoNotFound": RepoNotFoundError,
    "RevisionNotFound": RevisionNotFoundError,
    "EntryNotFound": EntryNotFoundError,
}


def _by_code(code: str, status: int, authenticated: bool, page: str) -> Kind | None:
    """The Hub's ``X-Error-Code``, which wins over the status."""
    if code == "GatedRepo":
        if status == 403 or authenticated:
            return (
                GatedRepoError,
                f"Your token has no access yet: request it on {page}, wait for approval, retry.",
            )
        return (
            GatedRepoError,
            f"This repo is gated: accept its terms on {page}, then pass a token (--token, HF_TOKEN).",
        )
    cls = _BY_CODE.get(code)
    return (cls, None) if cls is not None else None


def _by_status(status: int, message: str, path: str | None, authenticated: bool) -> Kind:
    if status in (401, 403):
        return _refused(status, message, authenticated)
    if status == 404:
        return (EntryNotFoundError if path else RepoNotFoundError), None
    if status == 429:
        return RateLimitedError, None
    if status >= 500 or status == 408:
        return NetworkError, None
    return HubmemError, None


def _refused(status: int, message: str, authenticated: bool) -> Kind:
    """401: bad credentials, else (as on the Hub) a repo that is missing or private; 403: a disabled
    repo, else a token without the scope."""
    if status == 401:
        if _INVALID_CREDENTIALS.search(message):
            return UnauthorizedError, None
        if authenticated:
            return RepoNotFoundError, "Not found with this token: check the spelling and the token's access."
        return RepoNotFoundError, None
    if _DISABLED.search(message):
        return DisabledRepoError, None
    return UnauthorizedError, "The Hub refused this token (403): check its scopes / permissions."
