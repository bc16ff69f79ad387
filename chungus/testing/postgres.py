"""A private PostgreSQL cluster for fault tests: its own data directory, port and socket,
started, restarted and stopped by the test (never the machine's shared server)."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from chungus.fleet.launchers.local import free_port


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's bin directory (Debian's layout)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise FileNotFoundError("PostgreSQL's server binaries are not installed")
    return Path(found[-1]).parent


@dataclass
class PrivatePostgres:
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/chungus"

    def _run(self, *command: str) -> None:
        # The server refuses to run as root: as the postgres user, where the tests are root.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=60)

    def _ctl(self, *arguments: str) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run(
            str(postgres_bin() / "pg_ctl"), "-D", str(self.root / "data"), "-l",
            str(self.root / "server.log"), "-o", options, "-w", *arguments,
        )  # fmt: skip

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def restart(self, down_seconds: float = 0.0) -> None:
        """Stop (ending every connection), stay down a while, start again."""
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def remove(self) -> None:
        """Stop it (if it runs) and delete its files."""
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def private_postgres() -> PrivatePostgres:
    """initdb a cluster (trust on loopback) in a fresh directory, start it, create `chungus`."""
    root = Path(tempfile.mkdtemp(prefix="chungus-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    cluster = PrivatePostgres(root, free_port())
    cluster._run(
        str(postgres_bin() / "initdb"), "-D", str(root / "data"), "-U", "postgres",
        "-A", "trust", "--no-sync",
    )  # fmt: skip
    cluster.start()
    admin = f"postgres://postgres@127.0.0.1:{cluster.port}/postgres"
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute("CREATE DATABASE chungus")
    return cluster
