"""A throwaway PostgreSQL server for the test run (see shared TESTING.md).

initdb into a temporary folder, listen on 127.0.0.1 at a free port with fsync
off, and remove everything on stop. Works as root (runs the server as the
`postgres` user) and as an ordinary user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """PostgreSQL binaries are missing or the server did not start."""


def find_pg_bin() -> Path | None:
    """The newest PostgreSQL server binaries on this machine, or None."""
    explicit = os.environ.get("PGBIN")
    if explicit and (Path(explicit) / "initdb").exists():
        return Path(explicit)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    for c in candidates:
        if (Path(c) / "initdb").exists():
            return Path(c)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    pg_bin: Path
    root: Path
    port: int
    run_as: str | None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _cmd(self, *args: str) -> list[str]:
        if self.run_as:
            return ["runuser", "-u", self.run_as, "--", *args]
        return list(args)

    def stop(self) -> None:
        subprocess.run(
            self._cmd(str(self.pg_bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop"),
            capture_output=True, check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres() -> PostgresServer:
    """Start a fresh server; raises PostgresUnavailable with the reason when it cannot."""
    pg_bin = find_pg_bin()
    if pg_bin is None:
        raise PostgresUnavailable("PostgreSQL server binaries not found (apt-get install -y postgresql)")
    run_as = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="pieced-pg-"))
    if run_as:
        shutil.chown(root, user=run_as)
    port = _free_port()
    server = PostgresServer(pg_bin, root, port, run_as)
    init = subprocess.run(
        server._cmd(str(pg_bin / "initdb"), "-D", str(root / "data"), "-U", "postgres", "-A", "trust",
                    "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"),
        capture_output=True, text=True,
    )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise PostgresUnavailable(f"initdb failed: {init.stderr.strip()[-500:]}")
    opts = (f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c synchronous_commit=off "
            f"-c full_page_writes=off -c max_connections=200 -c timezone=UTC")
    start = subprocess.run(
        server._cmd(str(pg_bin / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "log"), "-w",
                    "-t", "30", "-o", opts, "start"),
        capture_output=True, text=True,
    )
    if start.returncode != 0:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        server.stop()
        raise PostgresUnavailable(f"PostgreSQL did not start: {start.stderr.strip()} {log[-500:]}")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.05)
    server.stop()
    raise PostgresUnavailable("PostgreSQL started but does not accept connections")
