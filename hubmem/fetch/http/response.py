"""HubResponse: a final response after redirects, its body read (capped), and the redirect chain."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from huggingface_hub import constants as hf_constants

from hubmem.errors import NetworkError

ERROR_BODY_CAP = 1 << 20  # read at most 1 MiB of an error or redirect body
JSON_BODY_CAP = 256 << 20  # an API answer larger than this is refused


@dataclass
class Redirect:
    status: int
    url: str
    headers: httpx.Headers


@dataclass
class HubResponse:
    """A final response (after redirects), its body already read (capped) and the redirect chain."""

    url: str
    status: int
    reason: str
    headers: httpx.Headers
    content: bytes
    redirects: list[Redirect] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """``name`` from the final response, else from the latest redirect that has it."""
        value = self.headers.get(name)
        if value:
            return value
        for hop in reversed(self.redirects):
            value = hop.headers.get(name)
            if value:
                return value
        return None

    @property
    def commit(self) -> str | None:
        """``X-Repo-Commit``: the sha the revision resolved to (on the 302 for LFS files)."""
        return self.header(hf_constants.HUGGINGFACE_HEADER_X_REPO_COMMIT)

    @property
    def linked_size(self) -> int | None:
        """``X-Linked-Size`` of an LFS/Xet file (on the 302 to the CDN)."""
        return int_or_none(self.header(hf_constants.HUGGINGFACE_HEADER_X_LINKED_SIZE))


def int_or_none(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


async def read_capped(response: httpx.Response, cap: int, *, strict: bool) -> bytes:
    """The streamed body, at most ``cap`` bytes; ``strict`` raises instead of truncating."""
    buf = bytearray()
    async for chunk in response.aiter_bytes():
        buf += chunk
        if len(buf) > cap:
            if strict:
                raise NetworkError(f"{response.url}: response larger than {cap:,} bytes")
            del buf[cap:]
            break
    return bytes(buf)


def decode_json(content: bytes) -> Any:
    """A JSON body (a UTF-8 BOM allowed)."""
    return json.loads(content.decode("utf-8-sig"))
