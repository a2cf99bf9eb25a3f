"""Running the ``hubmem`` command line as a user would: a subprocess against a fake Hub, with a clean
environment (no saved login, its own caches)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hubmem.fakehub.server import FakeHub


def run_cli(
    hub: FakeHub | None, *args: str, token: str | None = None, tmp: Path
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING_FACE", "HUBMEM_"))}
    env.update(
        HF_HOME=str(tmp / "hf-home"),  # no saved login leaks in
        HF_HUB_DISABLE_XET="1",
        HUBMEM_CACHE=str(tmp / "hubmem-cache"),
        COLUMNS="200",
    )
    if hub is not None:
        env["HF_ENDPOINT"] = hub.endpoint
    if token is not None:
        env["HF_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "hubmem", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
        timeout=120,
    )
