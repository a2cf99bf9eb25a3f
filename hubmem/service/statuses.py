"""One table from error kinds to HTTP statuses, and the JSON error body.

The body is ``{"error": {"kind", "message", "hint"?, "status"}}`` everywhere (never a traceback);
scan rows carry the same ``error`` object.
"""

from __future__ import annotations

import math
import re
from typing import Any

from hubmem.errors import HubmemError
from hubmem.service.settings import Settings

# kind -> HTTP status. "gated" is 401 for a caller without a token and 403 for one whose token lacks access.
STATUS_BY_KIND: dict[str, int] = {
    "invalid_repo_id": 400,
    "invalid_request": 400,
    "unauthorized": 401,
    "gated": 401,
    "not_found": 404,
    "revision_not_found": 404,
    "request_timeout": 408,
    "payload_too_large": 413,
    "too_large": 422,  # the report would exceed the per-request budget (Settings.max_report_tensors ...)
    "invalid_options": 422,
    "bad_option": 422,  # an option that does not apply to this model (e.g. kv_dtype fp8_ds_mla, no MLA)
    "no_safetensors": 422,
    "bad_config": 422,
    "rate_limited": 429,
    "internal": 500,
    "not_implemented": 501,
    "network": 502,
    "error": 502,  # an unexpected upstream answer (e.g. a 400 or 418 from the Hub)
    "corrupt_header": 502,
    "offline": 503,
    "catalog": 503,  # the catalog database is not configured, missing or unreachable
    "upstream_timeout": 504,
}


def status_for(exc: HubmemError, *, sent_token: bool) -> int:
    if exc.kind == "gated":
        # the Hub says 401 without a token and 403 with one that lacks access; trust it when it told us
        if exc.status in (401, 403):
            return exc.status
        return 403 if sent_token else 401
    if exc.kind == "network" and _is_timeout(exc):
        return 504
    return STATUS_BY_KIND.get(exc.kind, 500)


def _is_timeout(exc: BaseException) -> bool:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, TimeoutError) or "Timeout" in type(cur).__name__:
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def retry_after_seconds(exc: HubmemError, settings: Settings) -> int:
    if exc.retry_after is not None and exc.retry_after >= 0 and math.isfinite(exc.retry_after):
        return max(1, math.ceil(exc.retry_after))
    return settings.default_retry_after


# CLI advice in hints ("(--token, HF_TOKEN, or `hf auth login`)") -> how a service caller sends a token
_CLI_TOKEN_ADVICE = re.compile(r"\s*\((?:--token|HF_TOKEN)[^)]*\)")
SERVICE_TOKEN_ADVICE = " (send it as 'Authorization: Bearer <Hub token>')"
SERVICE_HINTS = {
    "unauthorized": "The Hub refused the token sent in 'Authorization: Bearer': check it, or send none for "
    "public repos.",
    "gated": "This repo is gated: accept its terms on the model page, then send a token that may read it as "
    "'Authorization: Bearer <Hub token>'.",
    "rate_limited": "The Hub rate limit was reached; retry after Retry-After seconds, or send a token "
    "(higher quota) as 'Authorization: Bearer <Hub token>'.",
}


def error_body(exc: HubmemError, status: int) -> dict[str, Any]:
    err = exc.to_dict()
    err["status"] = status  # ours, not the upstream's
    hint = err.get("hint")
    if isinstance(hint, str):
        hint = _CLI_TOKEN_ADVICE.sub(SERVICE_TOKEN_ADVICE, hint)
        if "--token" in hint or "auth login" in hint:
            hint = SERVICE_HINTS.get(exc.kind, hint)
        err["hint"] = hint
    return {"error": err}
