"""The request log: one entry per request on either origin, with counting helpers (thread-safe)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LogEntry:
    time: float  # wall clock (time.time()) when the request arrived
    origin: str  # "hub" | "cdn"
    method: str
    path: str  # raw, undecoded path
    query: str  # raw query string
    range: str | None  # the Range request header
    auth: bool  # whether an Authorization header was present
    status: int  # 0 when the connection was dropped without a response
    bytes_sent: int  # body bytes written (0 for HEAD)
    bucket: str  # "api" | "resolvers" | "pages" | "cdn"
    fault: str | None = None  # injected fault, e.g. "429", "503", "drop", "slow"
    duration: float = 0.0  # seconds spent in the server (latency included)
    peer: str = ""  # the client's "host:port": one value per TCP connection (connection reuse is countable)

    @property
    def url_path(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


class RequestLog:
    def __init__(self) -> None:
        self._entries: list[LogEntry] = []
        self._lock = threading.Lock()

    def add(self, entry: LogEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def replace(self, old: LogEntry, new: LogEntry) -> None:
        with self._lock:
            for i in range(len(self._entries) - 1, -1, -1):
                if self._entries[i] is old:
                    self._entries[i] = new
                    return
            self._entries.append(new)  # reset() in between: keep the new one

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()

    @property
    def entries(self) -> list[LogEntry]:
        with self._lock:
            return list(self._entries)

    def __iter__(self) -> Iterator[LogEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def filter(
        self,
        *,
        origin: str | None = None,
        method: str | None = None,
        status: int | None = None,
        path: str | None = None,
        bucket: str | None = None,
        auth: bool | None = None,
        fault: str | None = None,
    ) -> list[LogEntry]:
        """Entries matching every given criterion (``path`` is a substring of the raw path)."""
        return [
            e
            for e in self.entries
            if (origin is None or e.origin == origin)
            and (method is None or e.method == method)
            and (status is None or e.status == status)
            and (path is None or path in e.path)
            and (bucket is None or e.bucket == bucket)
            and (auth is None or e.auth == auth)
            and (fault is None or e.fault == fault)
        ]

    def count(self, **criteria: Any) -> int:
        """How many entries :meth:`filter` keeps for these criteria."""
        return len(self.filter(**criteria))

    def requests(self, origin: str | None = None) -> int:
        return len(self.filter(origin=origin))

    def bytes_sent(self, origin: str | None = None) -> int:
        return sum(e.bytes_sent for e in self.filter(origin=origin))

    def connections(self, origin: str | None = None) -> int:
        """Distinct client connections (peer addresses) that sent requests to ``origin`` (or either)."""
        return len({(e.origin, e.peer) for e in self.filter(origin=origin)})

    def auth_leaks(self) -> list[LogEntry]:
        """CDN requests that carried Authorization (each one is a token leak by the client)."""
        return self.filter(origin="cdn", auth=True)

    def summary(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for e in self.entries:
            d = out.setdefault(e.origin, {"requests": 0, "bytes": 0})
            d["requests"] += 1
            d["bytes"] += e.bytes_sent
        return out
