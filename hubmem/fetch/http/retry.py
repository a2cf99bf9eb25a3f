"""Retry policy of the HubClient: which statuses are retried, the backoff, the server-requested
wait (``Retry-After`` or ``RateLimit``) and the pause shared between clients (:class:`Pacer`)."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping

import msgspec
from huggingface_hub.utils import parse_ratelimit_headers

from hubmem.fetch.http.answers import retry_after_seconds

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

Sleep = Callable[[float], Awaitable[None]]


class HubState(msgspec.Struct):
    """What a client learns about the endpoint: the shared pause and whether the
    safetensors-metadata route exists. Pass one ``state=`` to several HubClients (e.g. one per
    caller token over one pool) so that a 429 pauses all of them."""

    paused_until: float = 0.0  # on the client's clock
    metadata_route_unavailable: bool = False


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: half the delay fixed, half random."""
    delay = min(cap, base * 2.0 ** (attempt - 1))
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


class Pacer:
    """When a client's next request may go: after the pause shared through ``state`` (extended by every
    server-requested wait), and after the backoff between retries. ``sleep`` and ``clock`` are injectable."""

    def __init__(
        self, state: HubState, sleep: Sleep, clock: Callable[[], float], backoff: tuple[float, float]
    ) -> None:
        self.state = state
        self.sleep = sleep
        self.clock = clock
        self.backoff_base, self.backoff_max = backoff  # base and cap, in seconds

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds`` (extends, never shortens, a pause)."""
        until = self.clock() + seconds
        if until > self.state.paused_until:
            self.state.paused_until = until

    async def wait_paused(self) -> None:
        while True:
            target = self.state.paused_until
            delay = target - self.clock()
            if delay <= 0:
                return
            await self.sleep(delay)
            if self.state.paused_until <= target:
                return

    async def backoff(self, attempt: int) -> None:
        await self.sleep(backoff_delay(attempt, self.backoff_base, self.backoff_max))
