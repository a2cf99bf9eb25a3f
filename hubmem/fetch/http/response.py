"""HubResponse: a final response after redirects, its body read (capped), and the redirect chain."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx2
import msgspec
from huggingface_hub import constants as hf_constants

from hubmem.errors import NetworkError
from hubmem.fetch.http.answers import redact
from hubmem.formats.json_reader import load_json

ERROR_BODY_CAP = 1 << 20  # read at most 1 MiB of an error or redirect body
JSON_BODY_CAP = 256 << 20  # an API answer larger than this is refused

Reader = Callable[[httpx2.Response], Awaitable[bytes]]  # reads the body of a final 2xx/3xx response


class Redirect(msgspec.Struct):
    status: int
    url: str
    headers: httpx2.Headers


class HubResponse(msgspec.Struct):
    """A final response (after redirects), its body already read (capped) and the redirect chain."""

    url: str
    status: int
    reason: str
    headers: httpx2.Headers
    content: bytes
    redirects: list[Redirect] = []

    def header(self, name: str) -> str | None:
        """``name`` from the final response, else from the latest redirect that has it."""
        for headers in (self.headers, *(hop.headers for hop in reversed(self.redirects))):
            value: str | None = headers.get(name)
            if value:
                return value
        return None

    def json(self, what: str, repo_id: str | None = None) -> Any:
        """The body as JSON; ``NetworkError`` (naming ``what``) when it is not JSON."""
        try:
            return load_json(self.content)
        except ValueError:
            raise NetworkError(
                f"{what}: the Hub answered {self.status} with a body that is not JSON", repo_id=repo_id
            ) from None

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


async def read_capped(response: httpx2.Response, cap: int, *, strict: bool) -> bytes:
    """The streamed body, at most ``cap`` bytes; ``strict`` raises instead of truncating."""
    buf = bytearray()
    async for chunk in response.aiter_bytes():
        buf += chunk
        if len(buf) > cap:
            if strict:
                raise NetworkError(f"{redact(str(response.url))}: response larger than {cap:,} bytes")
            del buf[cap:]
            break
    return bytes(buf)


async def read_redirect(response: httpx2.Response) -> Redirect:
    """A redirect hop, its body read (capped) so that the connection can be reused."""
    await read_capped(response, ERROR_BODY_CAP, strict=False)
    return Redirect(response.status_code, str(response.url), response.headers)


async def final_response(
    response: httpx2.Response, reader: Reader | None, redirects: list[Redirect]
) -> HubResponse:
    """The final response of an exchange, its body read by ``reader`` (2xx/3xx) or capped."""
    status = response.status_code
    if status >= 400 or reader is None:
        content = await read_capped(
            response, ERROR_BODY_CAP if status >= 400 else JSON_BODY_CAP, strict=status < 400
        )
    else:
        content = await reader(response)
    return HubResponse(
        str(response.url), status, response.reason_phrase, response.headers, content, redirects
    )


def decode_json(content: bytes) -> Any:
    """A JSON body (a UTF-8 BOM allowed), within the bounded reader's limits (``ValueError`` otherwise)."""
    return load_json(content)
