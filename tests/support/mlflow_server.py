"""A real ``mlflow server`` process backed by PostgreSQL, on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import processes
from tests.support.components import free_port, venv_bin, wait_until
from tests.support.postgres import PostgresServer


@dataclass
class MlflowServer:
    """One tracking server; ``stop``/``start`` keep its database and artifacts."""

    backend_uri: str
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / "mlflow-server.log"

    def _healthy(self) -> bool:
        with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)

    def start(self) -> MlflowServer:
        artifacts = self.workdir / "artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        command = [
            venv_bin("mlflow"),
            "server",
            "--backend-store-uri",
            self.backend_uri,
            "--artifacts-destination",
            str(artifacts),
            "--serve-artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
            # /metrics, as in the stack: the observability suite scrapes this server.
            "--expose-prometheus",
            str(self.workdir / "prometheus"),
        ]
        self.process = processes.spawn(command, self.log, env=server_environment())
        wait_until(self._healthy, timeout=120, what=f"mlflow server on {self.uri}", log=self.log)
        return self

    def stop(self) -> None:
        processes.stop(self.process)


def server_environment() -> dict[str, str]:
    # The server's background job runners (huey consumers, five processes) serve GenAI
    # features this platform does not use; on 2 cores they slow every suite down.
    return {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def new_mlflow_server(postgres: PostgresServer, workdir: Path) -> MlflowServer:
    """A server on a fresh database of ``postgres`` (not started)."""
    workdir.mkdir(parents=True, exist_ok=True)
    database = postgres.create_database("mlflow")
    return MlflowServer(backend_uri=postgres.url(database), workdir=workdir)
