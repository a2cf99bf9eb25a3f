"""The aiohttp application: ``create_app(settings)``, and ``run`` for ``hubmem serve``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hubmem.fetch.cache.store import HeaderCache
from hubmem.service.auth import TokenHasher
from hubmem.service.backend import Backend, HubBackend
from hubmem.service.catalog import add_catalog_routes
from hubmem.service.core import Core
from hubmem.service.metrics import Registry
from hubmem.service.routes import (
    CORE,
    HASHER,
    HTTP_METRICS,
    REGISTRY,
    SETTINGS,
    HttpMetrics,
    add_routes,
    middleware,
)
from hubmem.service.settings import Settings


def create_app(settings: Settings | None = None, *, backend: Backend | None = None) -> web.Application:
    """The service. ``backend`` defaults to the real Hub (``settings.endpoint``) through hubmem's pipeline."""
    settings = settings or Settings()
    app = web.Application(middlewares=[middleware], client_max_size=settings.client_max_size)
    registry = Registry()
    app[SETTINGS] = settings
    app[REGISTRY] = registry
    app[HTTP_METRICS] = HttpMetrics.register(registry)
    app[HASHER] = TokenHasher()
    if backend is None:
        cache = HeaderCache(settings.header_cache) if settings.header_cache is not None else None
        backend = HubBackend(settings.endpoint, cache=cache)
    app[CORE] = Core(settings, backend, registry)
    add_routes(app)
    add_catalog_routes(app, settings.catalog)

    async def close(app: web.Application) -> None:
        await app[CORE].aclose()

    app.on_cleanup.append(close)
    return app


# the default access log minus Referer; aiohttp never logs request headers such as Authorization
ACCESS_LOG_FORMAT = '%a "%r" %s %b %Tf "%{User-Agent}i"'


def server_options(settings: Settings) -> dict[str, Any]:
    """aiohttp server settings: a connection that has not sent a whole request line and headers within
    ``header_timeout`` seconds (idle keep-alive connections included) is closed."""
    return {"keepalive_timeout": settings.header_timeout}


def run(settings: Settings, *, host: str = "127.0.0.1", port: int = 8000, reuse_port: bool = False) -> None:
    """Serve until interrupted (``hubmem serve``). ``reuse_port``: SO_REUSEPORT, so several processes listen
    on one port and the kernel spreads the connections among them (Linux)."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    web.run_app(
        create_app(settings),
        host=host,
        port=port,
        reuse_port=reuse_port or None,
        access_log_format=ACCESS_LOG_FORMAT,
        print=lambda msg: logging.getLogger("hubmem.service").info("%s", msg),
        **server_options(settings),
    )
