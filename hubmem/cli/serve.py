"""``hubmem serve``: the HTTP API and web page."""

from __future__ import annotations

import errno

import click

from hubmem.cli.console import guarded
from hubmem.cli.options import cache_options, open_cache
from hubmem.errors import UsageError


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port.")
@click.option("--endpoint", default=None, help="Hub to read from [default: HF_ENDPOINT or huggingface.co].")
@click.option(
    "--use-server-token",
    is_flag=True,
    help="Callers who send no token use this server's own token (HF_TOKEN / login); default: anonymous.",
)
@click.option(
    "--cache-entries", type=click.IntRange(min=0), default=2048, show_default=True, help="Report LRU size."
)
@click.option(
    "--catalog", default=None, help="Catalog database (SQLite file or postgresql:// URL) for /v1/catalog."
)
@click.option(
    "--reuse-port",
    is_flag=True,
    help="Share the port with other `hubmem serve --reuse-port` processes (SO_REUSEPORT, Linux).",
)
@cache_options
@guarded
def serve_cmd(
    host: str, port: int, endpoint: str | None, use_server_token: bool, cache_entries: int, **kw: object
) -> None:
    """Serve the HTTP API and web pages (GET /v1/models/ORG/NAME, POST /v1/scan, GET /v1/catalog, /catalog,
    /openapi.json). Headers are cached on disk per commit (--cache-dir), shared with other workers and the
    CLI."""
    from huggingface_hub import get_token

    from hubmem.service.app import run
    from hubmem.service.settings import Settings

    server_token = get_token() if use_server_token else None
    if use_server_token and not server_token:
        raise click.UsageError("--use-server-token: no token found (HF_TOKEN or `hf auth login`).")
    cache = open_cache(kw)
    settings = Settings(
        endpoint=endpoint,
        server_token=server_token,
        cache_entries=cache_entries,
        header_cache=str(cache.root) if cache is not None else None,
        catalog=str(kw["catalog"]) if kw["catalog"] is not None else None,
    )
    try:
        run(settings, host=host, port=port, reuse_port=bool(kw["reuse_port"]))
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            raise
        raise UsageError(  # the address is in use, or not ours to listen on
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="Pick a free port with --port (0 lets the system choose one) or another --host.",
        ) from None
