"""A real PostgreSQL server for the integration suites.

``MLSHIP_TEST_POSTGRES_DSN`` points the tests at any existing server (CI, a
developer's own). Otherwise a throwaway cluster is created from the installed
binaries on a free port. ``initdb`` refuses to run as root, so as root the
cluster is created and run as the ``postgres`` user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

from tests.support.components import free_port, missing, wait_until


@dataclass(frozen=True)
class PostgresServer:
    """Connection facts of a running server; ``dsn`` names its maintenance database."""

    dsn: str

    def url(self, database: str, driver: str = "postgresql+psycopg2") -> str:
        parts = urlsplit(self.dsn)
        return urlunsplit((driver, parts.netloc, f"/{database}", parts.query, ""))

    def create_database(self, prefix: str = "mlship") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        connection = psycopg2.connect(self.dsn)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return name


def _pg_bin(tool: str) -> str:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), reverse=True)
    found = candidates[0] if candidates else shutil.which(tool)
    if not found:
        missing("PostgreSQL", f"{tool} not found (apt-get install postgresql)")
    return found


def _as_postgres_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def _can_connect(dsn: str) -> bool:
    psycopg2.connect(dsn, connect_timeout=2).close()
    return True


@dataclass
class ThrowawayCluster:
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    def start(self) -> PostgresServer:
        pg_ctl = _pg_bin("pg_ctl")
        if os.geteuid() == 0:
            shutil.chown(self.root, user="postgres")
        subprocess.run(
            _as_postgres_user(
                [pg_ctl, "initdb", "-s", "-D", str(self.data), "-o", "--auth=trust -U postgres"]
            ),
            check=True,
            capture_output=True,
        )
        options = f"-p {self.port} -k {self.root} -h 127.0.0.1 -c fsync=off"
        subprocess.run(
            _as_postgres_user(
                [
                    pg_ctl,
                    "start",
                    "-w",
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.root / "log"),
                    "-o",
                    options,
                ]
            ),
            check=True,
            capture_output=True,
        )
        server = PostgresServer(f"postgresql://postgres@127.0.0.1:{self.port}/postgres")
        wait_until(lambda: _can_connect(server.dsn), timeout=30, what="PostgreSQL")
        return server

    def stop(self) -> None:
        subprocess.run(
            _as_postgres_user([_pg_bin("pg_ctl"), "stop", "-m", "fast", "-D", str(self.data)]),
            check=False,
            capture_output=True,
        )

    def restart(self) -> None:
        subprocess.run(
            _as_postgres_user(
                # -l as in start(): without it the new server inherits the captured pipe
                # and this call never returns.
                [
                    _pg_bin("pg_ctl"),
                    "restart",
                    "-w",
                    "-m",
                    "fast",
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.root / "log"),
                ]
            ),
            check=True,
            capture_output=True,
        )


def postgres_server() -> Iterator[PostgresServer]:
    """Generator behind the session fixture ``postgres``."""
    dsn = os.environ.get("MLSHIP_TEST_POSTGRES_DSN")
    if dsn:
        try:
            _can_connect(dsn)
        except psycopg2.OperationalError as error:
            missing("PostgreSQL", f"MLSHIP_TEST_POSTGRES_DSN does not answer: {error}")
        yield PostgresServer(dsn)
        return
    root = Path(tempfile.mkdtemp(prefix="mlship-pg-"))
    cluster = ThrowawayCluster(root, free_port())
    try:
        yield cluster.start()
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
