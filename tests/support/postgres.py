"""A throw-away PostgreSQL server for the tests: ``initdb`` into a temporary folder and ``pg_ctl start`` on a
unix socket in that folder (no TCP port, nothing shared with another test or a system server). As root the
server runs as the ``postgres`` user (PostgreSQL refuses to run as root). Debian's ``postgresql`` package
provides the binaries (``.ci/run`` installs it); where they or psycopg are missing the caller skips, saying
which."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

PORT = 5432  # only names the socket file inside the private folder


def find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    return candidates[-1] if candidates else None


def missing() -> str | None:
    """Why a PostgreSQL test cannot run here (None: it can)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[dev]' installs hubmem[postgres])"
    if find_binary("initdb") is None or find_binary("pg_ctl") is None:
        return "no PostgreSQL server binaries (initdb, pg_ctl): apt-get install -y postgresql"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
    return None


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server; yields its ``postgresql://`` URL (database ``postgres``, user ``postgres``, trust)."""
    initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
    assert initdb and pg_ctl, missing()
    folder = Path(tempfile.mkdtemp(prefix="hubmem-pg-"))
    user = "postgres" if os.geteuid() == 0 else None
    if user is not None:
        os.chown(folder, pwd.getpwnam(user).pw_uid, -1)
    data, log = folder / "data", folder / "server.log"
    options = f"-c listen_addresses='' -c unix_socket_directories={folder} -p {PORT} -c fsync=off"

    def run(*cmd: str) -> None:
        subprocess.run(cmd, user=user, check=True, capture_output=True, timeout=120)

    try:
        run(initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        run(pg_ctl, "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options, "start")
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode(errors="replace")[-2000:]
        server_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {detail}\n{server_log}") from None
    try:
        yield f"postgresql://postgres@/postgres?host={folder}&port={PORT}"
    finally:
        with contextlib.suppress(Exception):
            run(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)
