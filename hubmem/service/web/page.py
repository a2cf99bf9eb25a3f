"""The report page (``GET /``), the files it loads (``GET /static/{file}``: uPlot, vendored so that the page
works offline) and the GPU catalog of its picker (``GET /v1/gpus``)."""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from hubmem.pipeline import gpu_catalog

# what the page may do: its own script and style (inline and /static), fetch this origin; nothing else
PAGE_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# files the page loads, by name -> content type
STATIC = {"uPlot.iife.min.js": "text/javascript", "uPlot.min.css": "text/css", "uPlot.LICENSE": "text/plain"}


def _file(*parts: str) -> bytes:
    return resources.files("hubmem.service.web").joinpath(*parts).read_bytes()


async def static(request: web.Request) -> web.Response:
    name = request.match_info["file"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    cache = {"Cache-Control": "public, max-age=86400"}
    return web.Response(body=_file("static", name), content_type=STATIC[name], charset="utf-8", headers=cache)


async def gpus(request: web.Request) -> web.Response:
    """The GPU catalog of the fit verdicts (the page's picker)."""
    return web.json_response(
        [{**g.model_dump(mode="json"), "memory_bytes": g.memory_bytes} for g in gpu_catalog()]
    )


async def page(request: web.Request) -> web.Response:
    return web.Response(
        body=_file("page.html"),
        content_type="text/html",
        charset="utf-8",
        headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"},
    )


def add_page_routes(app: web.Application) -> None:
    app.router.add_get("/", page, name="page")
    app.router.add_get("/static/{file}", static, name="static")
    app.router.add_get("/v1/gpus", gpus, name="gpus")
