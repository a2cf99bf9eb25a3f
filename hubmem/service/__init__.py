"""The hubmem HTTP service (aiohttp): the same report as the CLI over HTTP, plus a web page."""
