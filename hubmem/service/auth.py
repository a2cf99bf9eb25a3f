"""Who is calling: the caller's Hub token (from ``Authorization: Bearer``) and a cache scope for it.

Policy (documented in the README's "Running the service"):

- A caller's bearer token is used for that request's Hub calls only; it is never stored, logged
  or echoed. Only a keyed hash of it (``scope``) is kept, as part of cache keys.
- A caller who sends no token is anonymous upstream, unless the server was started with
  ``--use-server-token``; then such callers borrow the server's own token (and share its scope).
- Results are cached per scope unless the repo is public (neither gated nor private), so a result
  read with one token is never served to a caller who did not prove the same access.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

import msgspec

from hubmem.errors import UnauthorizedError

ANONYMOUS = "anon"
PUBLIC = "public"

# RFC 6750 b64token, which covers Hub tokens (hf_...) and OAuth tokens
_TOKEN_RE = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
MAX_TOKEN_LENGTH = 4096


class Caller(msgspec.Struct, frozen=True):
    """The effective upstream credentials of one request."""

    token: str | None  # what goes to the Hub (None = anonymous)
    scope: str  # cache scope: ANONYMOUS or a keyed hash of the token
    sent_token: bool  # whether the caller sent a token (vs none / the server's)

    def __repr__(self) -> str:  # never print the token
        return f"Caller(scope={self.scope!r}, sent_token={self.sent_token})"


class TokenHasher:
    """Keyed hash of tokens (HMAC-SHA256 with a per-process random key): equal tokens, equal scopes;
    nothing that could be reversed or matched offline if a cache key ever leaked."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)

    def scope(self, token: str | None) -> str:
        if not token:
            return ANONYMOUS
        return "tok:" + hmac.new(self._key, token.encode(), hashlib.sha256).hexdigest()[:32]


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None when there is no header.

    A header that is present but not a well-formed bearer token is refused (401), rather than
    silently treated as anonymous.
    """
    if authorization is None:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer":
        raise UnauthorizedError("The Authorization header must be 'Bearer <Hub token>'.")
    if not value or len(value) > MAX_TOKEN_LENGTH or not _TOKEN_RE.match(value):
        raise UnauthorizedError("The bearer token is empty or malformed.")
    return value


def caller_from_header(authorization: str | None, *, hasher: TokenHasher, server_token: str | None) -> Caller:
    token = bearer_token(authorization)
    if token is not None:
        return Caller(token=token, scope=hasher.scope(token), sent_token=True)
    if server_token:
        return Caller(token=server_token, scope=hasher.scope(server_token), sent_token=False)
    return Caller(token=None, scope=ANONYMOUS, sent_token=False)
