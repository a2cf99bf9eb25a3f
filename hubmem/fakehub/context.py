"""Server-wide state shared by the handlers of both origins."""

from __future__ import annotations

import hashlib
import hmac
import zlib
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web

from hubmem.fakehub.faults import FaultInjector
from hubmem.fakehub.fixtures.store import FixtureStore
from hubmem.fakehub.log import RequestLog

RegularRedirect = Literal["never", "always", "mix"]


@dataclass
class HubOptions:
    # regular (non-LFS) files: 200 directly, or 307 to /api/resolve-cache/...; "mix" picks per path (stable)
    regular_redirect: RegularRedirect = "mix"
    tree_page_size: int = 1000
    tree_expand_page_size: int = 50
    url_ttl: int = 3600  # lifetime of signed CDN URLs (Expires)
    list_page_size: int = 1000  # items per page of GET /api/models


@dataclass
class Context:
    store: FixtureStore
    options: HubOptions
    faults: FaultInjector
    log: RequestLog
    cdn_url: str = ""  # set once the CDN site is bound
    secret: bytes = field(default=b"hubmem-fakehub-secret")

    def redirects_regular(self, path: str) -> bool:
        mode = self.options.regular_redirect
        return mode == "always" or (mode == "mix" and zlib.crc32(path.encode()) % 2 == 0)

    def sign(self, path: str, expires: int) -> str:
        return hmac.new(self.secret, f"{path}:{expires}".encode(), hashlib.sha256).hexdigest()


CTX = web.AppKey("ctx", Context)
