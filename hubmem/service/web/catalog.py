"""``GET /v1/catalog`` and the catalog page (``GET /catalog``), over the database ``hubmem scan --db`` writes
(``hubmem serve --catalog DB``). The query parameters are the fields of
:class:`~hubmem.schema.catalog.CatalogQuery`, the options of ``hubmem catalog query``; at most 1,000 rows per
answer. Each query opens a read-only connection in a worker thread, so several service processes (or hosts,
on PostgreSQL) read one catalog while scans write it.
"""

from __future__ import annotations

import asyncio
from importlib import resources
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from hubmem.catalog.query import read_catalog
from hubmem.errors import CatalogError, InvalidOptionsError
from hubmem.schema.catalog import CatalogQuery

# what the page may do: its own inline script and style, fetch this origin; nothing from elsewhere
PAGE_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
CATALOG = web.AppKey("catalog", str)  # the database the service reads (absent: no catalog)


def catalog_query(query: Any) -> CatalogQuery:
    """Query parameters -> CatalogQuery; an empty value means the default, anything else wrong is a 422."""
    repeated = sorted(k for k in query if len(query.getall(k)) > 1)
    if repeated:
        raise InvalidOptionsError(f"repeated query parameter(s): {', '.join(repeated)}")
    data = {k: v for k, v in query.items() if v != ""}
    try:
        return CatalogQuery.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"param": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors(include_url=False, include_context=False)
        ]
        message = "; ".join(f"{e['param']}: {e['message']}" for e in errors)
        raise InvalidOptionsError(f"invalid catalog query: {message}", errors=errors) from None


async def get_catalog(request: web.Request) -> web.Response:
    target = request.app.get(CATALOG)
    if target is None:
        raise CatalogError("this service has no catalog", hint="Start it with: hubmem serve --catalog DB")
    page = await asyncio.to_thread(read_catalog, target, catalog_query(request.rel_url.query))
    return web.Response(
        body=page.model_dump_json().encode(),
        content_type="application/json",
        headers={"Cache-Control": "no-cache"},
    )


async def catalog_page(request: web.Request) -> web.Response:
    body = resources.files("hubmem.service.web").joinpath("catalog.html").read_bytes()
    return web.Response(
        body=body,
        content_type="text/html",
        charset="utf-8",
        headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"},
    )


def add_catalog_routes(app: web.Application, target: str | None) -> None:
    if target is not None:
        app[CATALOG] = target
    app.router.add_get("/v1/catalog", get_catalog, name="catalog")
    app.router.add_get("/catalog", catalog_page, name="catalog_page")
