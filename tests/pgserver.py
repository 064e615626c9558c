"""A throwaway PostgreSQL server for the tests: ``initdb`` into a temporary folder,
``pg_ctl start`` on a free loopback port (its unix socket in the same folder), and
everything removed on ``stop``. As root (CI, these machines) the server runs as the
``postgres`` user, since PostgreSQL refuses to run as root."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

INSTALL_HINT = (
    "PostgreSQL's initdb, pg_ctl and postgres are needed for the shared-state tests "
    "and were not found on PATH or in /usr/lib/postgresql/*/bin: install them "
    "(Debian/Ubuntu: apt-get install postgresql-15; macOS: brew install postgresql@15)"
)
START_SECONDS = 60
SUPERUSER = "scraper"


BIN_VARIABLE = "SCRAPER_TEST_POSTGRES_BIN"  # a folder to use instead of searching


def binaries() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres, if any."""
    if chosen := os.environ.get(BIN_VARIABLE):
        candidates = [Path(chosen)]
    else:
        found = shutil.which("initdb")
        candidates = [Path(found).resolve().parent] if found else []
        candidates += [
            Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
        ]
    for folder in candidates:
        if all((folder / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TempPostgres:
    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="scraper-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *command: str) -> None:
        done = subprocess.run(
            [*self.as_user, *command], capture_output=True, text=True, timeout=START_SECONDS
        )
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {done.stdout} {done.stderr}")

    def start(self) -> None:
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "-t",
            str(START_SECONDS),
            "start",
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        try:
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
