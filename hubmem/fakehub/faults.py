"""Fault injection: latency, 429 (per bucket), 5xx, dropped connections, slow or truncated bodies.
Seeded and thread-safe.

Counters for "every Nth" are kept per (fault kind, bucket); buckets are "api", "resolvers", "pages" on the
Hub origin and "cdn" on the CDN origin. Scripted one-shot faults (``inject``) take precedence.
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

BUCKETS = ("api", "resolvers", "pages")
DEFAULT_SLOW_DELAY = 0.05  # seconds between chunks for a scripted "slow" when slow_body_delay is 0
DEFAULT_QUOTA = {"api": 500, "resolvers": 3000, "pages": 100}  # anonymous tier, hub-protocol 3.2


@dataclass(frozen=True)
class FaultConfig:
    seed: int = 0
    latency: float = 0.0  # seconds added to every request (both origins)
    cdn_latency: float | None = None  # None = same as latency
    # 429 with RateLimit "bucket";r=0;t=N, RateLimit-Policy and Retry-After
    rate_limit_every: int = 0  # every Nth request of a bucket
    rate_limit_prob: float = 0.0
    rate_limit_buckets: tuple[str, ...] = ("api", "resolvers")
    rate_limit_reset: int = 1  # t=N and Retry-After: N
    enforce_quota: bool = False  # answer 429 once a bucket's quota in the window is used up
    quota: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_QUOTA))
    window: int = 300
    # 5xx
    error_every: int = 0
    error_prob: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503)  # cycled through in order
    # connection closed without any response
    drop_every: int = 0
    drop_prob: float = 0.0
    # slow bodies: bodies are written in chunks of slow_body_chunk bytes with slow_body_delay between them
    slow_body_delay: float = 0.0
    slow_body_chunk: int = 16384
    # which requests the 5xx / drop / slow faults may hit
    origins: tuple[str, ...] = ("hub", "cdn")
    match: str | None = None  # regex searched in the raw path (+ "?" + query); None = every request

    @classmethod
    def from_env(cls, prefix: str = "HUBMEM_FAKEHUB_", **overrides: Any) -> FaultConfig:
        """Fields from the environment, e.g. HUBMEM_FAKEHUB_LATENCY=0.05, HUBMEM_FAKEHUB_ERROR_EVERY=10."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = os.environ.get(prefix + f.name.upper())
            if raw is None or f.name == "quota":
                continue
            values[f.name] = _parse_field(f.name, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _parse_field(name: str, raw: str) -> object:
    default = getattr(FaultConfig(), name)
    if name in ("rate_limit_buckets", "origins"):
        return tuple(s.strip() for s in raw.split(",") if s.strip())
    if name == "error_statuses":
        return tuple(int(s) for s in raw.split(",") if s.strip())
    if name == "enforce_quota":
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if name in ("match",):
        return raw or None
    if name == "cdn_latency" or isinstance(default, float):
        return float(raw)
    return int(raw)


@dataclass(frozen=True)
class Decision:
    kind: str  # "none" | "drop" | "429" | "error"
    status: int = 0
    bucket: str = ""
    slow: bool = False
    truncate: bool = False  # send the headers and half the body, then close the connection
    remaining: int = 0  # RateLimit r for ordinary responses
    reset: int = 1  # RateLimit t


@dataclass
class _Scripted:
    kind: str  # "429" | "drop" | "slow" | "truncate" | "500" | ...
    times: int
    match: re.Pattern[str] | None
    origin: str | None


class FaultInjector:
    def __init__(self, config: FaultConfig | None = None) -> None:
        self.config = config or FaultConfig()
        self._lock = threading.Lock()
        self._rng = random.Random(self.config.seed)
        self._counters: Counter[tuple[str, str]] = Counter()
        self._window_start = time.monotonic()
        self._window_counts: Counter[str] = Counter()
        self._script: deque[_Scripted] = deque()

    # -- control -------------------------------------------------------------------------------------
    def update(self, **changes: Any) -> FaultConfig:
        """Change fault settings at runtime, e.g. ``update(latency=0.05, error_every=3)``."""
        with self._lock:
            self.config = dataclasses.replace(self.config, **changes)
            if "seed" in changes:
                self._rng = random.Random(self.config.seed)
            return self.config

    def clear(self) -> None:
        """Back to no faults at all (same seed), counters and scripted faults reset."""
        with self._lock:
            self.config = FaultConfig(seed=self.config.seed)
        self.reset()

    def reset(self) -> None:
        """Reset counters, quota window, scripted faults and the RNG (to the configured seed)."""
        with self._lock:
            self._rng = random.Random(self.config.seed)
            self._counters.clear()
            self._window_counts.clear()
            self._window_start = time.monotonic()
            self._script.clear()

    def inject(
        self, kind: str | int, times: int = 1, *, match: str | None = None, origin: str | None = None
    ) -> None:
        """Make the next ``times`` matching requests fail: kind = 429, 500, 502, 503, "drop", "slow" or
        "truncate" (headers + half the body, then the connection is closed)."""
        k = str(kind)
        if k not in ("drop", "slow", "truncate") and not k.isdigit():
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            self._script.append(_Scripted(k, times, re.compile(match) if match else None, origin))

    def latency_for(self, origin: str) -> float:
        c = self.config
        return c.cdn_latency if origin == "cdn" and c.cdn_latency is not None else c.latency

    # -- per request -----------------------------------------------------------------------------------
    def decide(self, origin: str, bucket: str, target: str) -> Decision:
        with self._lock:
            remaining, reset = self._count_window(bucket)
            base = Decision("none", bucket=bucket, remaining=remaining, reset=reset)
            scripted = self._take_scripted(origin, target)
            if scripted is not None:
                return self._scripted(base, scripted)
            return self._configured(base, origin, bucket, target)

    def _scripted(self, base: Decision, kind: str) -> Decision:
        """The decision for a scripted fault (``inject``)."""
        if kind == "slow":
            return dataclasses.replace(base, slow=True)
        if kind == "truncate":
            return dataclasses.replace(base, truncate=True)
        if kind == "drop":
            return dataclasses.replace(base, kind="drop")
        if kind == "429":
            return dataclasses.replace(
                base, kind="429", status=429, remaining=0, reset=self.config.rate_limit_reset
            )
        return dataclasses.replace(base, kind="error", status=int(kind))

    def _configured(self, base: Decision, origin: str, bucket: str, target: str) -> Decision:
        """The decision of the configured faults: drop, then 429, then 5xx, then slow bodies."""
        c = self.config
        eligible = origin in c.origins and (c.match is None or re.search(c.match, target) is not None)
        if eligible and self._hit("drop", bucket, c.drop_every, c.drop_prob):
            return dataclasses.replace(base, kind="drop")
        limited = self._rate_limited(base, origin, bucket, target)
        if limited is not None:
            return limited
        if eligible and c.error_statuses and self._hit("error", bucket, c.error_every, c.error_prob):
            n = self._counters["error-hits", bucket]
            self._counters["error-hits", bucket] += 1
            return dataclasses.replace(base, kind="error", status=c.error_statuses[n % len(c.error_statuses)])
        return dataclasses.replace(base, slow=eligible and c.slow_body_delay > 0)

    def _rate_limited(self, base: Decision, origin: str, bucket: str, target: str) -> Decision | None:
        """A 429 for a used-up quota (``enforce_quota``) or a configured rate limit; None otherwise."""
        c = self.config
        if origin != "hub" or bucket not in c.rate_limit_buckets:
            return None
        if c.enforce_quota and base.remaining < 0:
            return dataclasses.replace(base, kind="429", status=429, remaining=0)
        if (c.match is None or re.search(c.match, target)) and self._hit(
            "429", bucket, c.rate_limit_every, c.rate_limit_prob
        ):
            return dataclasses.replace(base, kind="429", status=429, remaining=0, reset=c.rate_limit_reset)
        return None

    def _hit(self, kind: str, bucket: str, every: int, prob: float) -> bool:
        self._counters[kind, bucket] += 1
        if every > 0 and self._counters[kind, bucket] % every == 0:
            return True
        return prob > 0 and self._rng.random() < prob

    def _take_scripted(self, origin: str, target: str) -> str | None:
        for item in self._script:
            if (item.origin is None or item.origin == origin) and (
                item.match is None or item.match.search(target) is not None
            ):
                item.times -= 1
                if item.times <= 0:
                    self._script.remove(item)
                return item.kind
        return None

    def _count_window(self, bucket: str) -> tuple[int, int]:
        """Count this request in its bucket's fixed window; return (remaining, seconds to reset)."""
        c = self.config
        now = time.monotonic()
        if now - self._window_start >= c.window:
            self._window_start = now
            self._window_counts.clear()
        self._window_counts[bucket] += 1
        quota = c.quota.get(bucket, 0)
        reset = max(1, int(c.window - (now - self._window_start)))
        return quota - self._window_counts[bucket], reset

    def policy(self, bucket: str) -> str:
        return f'"fixed window";"{bucket}";q={self.config.quota.get(bucket, 0)};w={self.config.window}'
