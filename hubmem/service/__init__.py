"""The hubmem HTTP service (aiohttp): the same report as the CLI over HTTP, plus a web page."""

from hubmem.service.app import create_app, run
from hubmem.service.backend import Backend, Fetched, HubBackend, Resolution
from hubmem.service.settings import Settings

__all__ = ["Backend", "Fetched", "HubBackend", "Resolution", "Settings", "create_app", "run"]
