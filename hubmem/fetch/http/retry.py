"""Retry policy of the HubClient: which statuses are retried, the backoff, the server-requested
wait (``Retry-After`` or ``RateLimit``) and the pause state shared between clients."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from huggingface_hub.utils import parse_ratelimit_headers

from hubmem.fetch.http.answers import retry_after_seconds

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass
class HubState:
    """What a client learns about the endpoint: the shared pause and whether the
    safetensors-metadata route exists. Pass one ``state=`` to several HubClients (e.g. one per
    caller token over one pool) so that a 429 pauses all of them."""

    paused_until: float = 0.0  # on the client's clock
    metadata_route_unavailable: bool = False


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: half the delay fixed, half random."""
    delay = min(cap, base * 2 ** (attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)


def server_wait(status: int, headers: Mapping[str, str]) -> float | None:
    """What the server asked for: ``Retry-After``, else ``RateLimit`` with ``r=0`` on a 429."""
    wait = retry_after_seconds(headers)
    if wait is not None:
        return wait
    if status == 429:
        info = parse_ratelimit_headers(headers)
        if info is not None and info.remaining == 0:
            return float(info.reset_in_seconds) + 1.0  # the window resets within t seconds (integer)
    return None
