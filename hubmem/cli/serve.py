"""``hubmem serve``: the HTTP API and web page."""

from __future__ import annotations

import errno

import click

from hubmem.cli.console import guarded
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
@guarded
def serve_cmd(host: str, port: int, endpoint: str | None, use_server_token: bool, cache_entries: int) -> None:
    """Serve the HTTP API and web page (GET /v1/models/ORG/NAME, POST /v1/scan, /openapi.json)."""
    from huggingface_hub import get_token

    from hubmem.service.app import run
    from hubmem.service.settings import Settings

    server_token = get_token() if use_server_token else None
    if use_server_token and not server_token:
        raise click.UsageError("--use-server-token: no token found (HF_TOKEN or `hf auth login`).")
    try:
        run(
            Settings(endpoint=endpoint, server_token=server_token, cache_entries=cache_entries),
            host=host,
            port=port,
        )
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            raise
        raise UsageError(  # the address is in use, or not ours to listen on
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="Pick a free port with --port (0 lets the system choose one) or another --host.",
        ) from None
