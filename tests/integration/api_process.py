"""A real ``mlship-api`` process (uvicorn) on a free loopback port, for integration tests."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import processes
from tests.support.components import free_port, venv_bin, wait_until

SCRUBBED = ("API_", "MLFLOW_TRACKING_URI", "PROMETHEUS_MULTIPROC_DIR")


@dataclass
class ApiProcess:
    workdir: Path
    settings: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / "api.log"

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def start(self) -> ApiProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED)}
        env.update({"API_HOST": "127.0.0.1", "API_PORT": str(self.port), **self.settings})
        self.process = processes.spawn([venv_bin("mlship-api")], self.log, env=env)
        self.wait_for("/health/live", 200, timeout=120)
        return self

    def wait_for(self, path: str, status: int, *, timeout: float) -> None:
        def answers() -> bool:
            if self.process is None or self.process.poll() is not None:
                tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
                pytest.fail(f"mlship-api exited:\n{tail}", pytrace=False)
            return httpx.get(self.url + path, timeout=5).status_code == status

        wait_until(answers, timeout=timeout, what=f"{path} -> {status}", log=self.log)

    def stop(self) -> None:
        processes.stop(self.process, timeout=30)


@contextmanager
def api_process(workdir: Path, **settings: str) -> Iterator[ApiProcess]:
    process = ApiProcess(workdir, settings)
    try:
        yield process.start()
    finally:
        process.stop()
