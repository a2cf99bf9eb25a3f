"""The CDN origin: signed, content-addressed URLs; Range; rejects any request carrying Authorization."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid

from aiohttp import web

from hubmem.fakehub.context import CTX
from hubmem.fakehub.faults import DEFAULT_SLOW_DELAY
from hubmem.fakehub.handlers.http import state, stream_file

AUTH_REJECTED = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string "
    "parameter or the Authorization header should be specified"
)


def _xml_error(status: int, code: str, message: str) -> web.Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return web.Response(status=status, text=body, content_type="application/xml")


async def handle(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    if "Authorization" in request.headers:  # a token leaked off the Hub: refuse loudly
        return _xml_error(400, "InvalidArgument", AUTH_REJECTED)
    if request.method not in ("GET", "HEAD"):
        return _xml_error(
            405, "MethodNotAllowed", "The specified method is not allowed against this resource."
        )
    path = request.rel_url.raw_path
    parts = path.strip("/").split("/")
    if len(parts) != 3 or parts[0] != "xet-bridge-us":
        return _xml_error(404, "NoSuchKey", "The specified key does not exist.")
    expires_raw, signature = request.query.get("Expires", ""), request.query.get("Signature", "")
    if not expires_raw.isdigit() or not hmac.compare_digest(signature, ctx.sign(path, int(expires_raw))):
        return _xml_error(403, "AccessDenied", "Invalid signature")
    if int(expires_raw) < time.time():
        return _xml_error(403, "AccessDenied", "Request has expired")
    f = ctx.store.find_oid(parts[2])
    if f is None:
        return _xml_error(404, "NoSuchKey", "The specified key does not exist.")
    headers = {
        "Content-Type": "application/octet-stream",
        "ETag": f'"{hashlib.sha256(b"cdn" + f.lfs_oid.encode()).hexdigest()}"',  # not the file's identity
        "Cache-Control": "public, max-age=31536000",
        "Access-Control-Expose-Headers": "Accept-Ranges,Content-Range,Content-Type,Content-Disposition,ETag",
        "X-Cache": "Miss from cloudfront",
        "Via": "1.1 fakehub.cloudfront.net (CloudFront)",
        "x-request-id": str(uuid.uuid4()),
    }
    disposition = request.query.get("response-content-disposition")
    if disposition:
        headers["Content-Disposition"] = disposition
    c = ctx.faults.config
    return await stream_file(
        request,
        f.content,
        headers=headers,
        slow_delay=(c.slow_body_delay or DEFAULT_SLOW_DELAY) if state(request).slow else 0.0,
        slow_chunk=c.slow_body_chunk,
    )
