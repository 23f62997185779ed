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

SCRIPT = Path(__file__).resolve().parents[2] / "platform/scripts/mlflow-server.sh"


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
        # The project's one way to run a tracking server from the venv (the demo's too).
        environment = {
            **os.environ,
            "MLFLOW_BIN": venv_bin("mlflow"),
            "MLFLOW_PORT": str(self.port),
            "MLSHIP_STATE_DIR": str(self.workdir),
            "MLFLOW_BACKEND_STORE_URI": self.backend_uri,
            "MLFLOW_ARTIFACTS_DESTINATION": str(self.workdir / "artifacts"),
            # /metrics, as in the stack: the observability suite scrapes this server.
            "MLFLOW_EXPOSE_PROMETHEUS": str(self.workdir / "prometheus"),
        }
        self.process = processes.spawn([str(SCRIPT), "run"], self.log, env=environment)
        wait_until(self._healthy, timeout=120, what=f"mlflow server on {self.uri}", log=self.log)
        return self

    def stop(self) -> None:
        processes.stop(self.process)


def new_mlflow_server(postgres: PostgresServer, workdir: Path) -> MlflowServer:
    """A server on a fresh database of ``postgres`` (not started)."""
    workdir.mkdir(parents=True, exist_ok=True)
    database = postgres.create_database("mlflow")
    return MlflowServer(backend_uri=postgres.url(database), workdir=workdir)
