"""The three servers of the bench, each in its own process group, pinned and logged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.bench import cpus
from tests.support.components import free_port
from tests.support.models import FEATURES

MODEL = "BenchIris"
ROW = [5.1, 3.5, 1.4, 0.2]


@dataclass(frozen=True)
class Target:
    url: str
    body: dict[str, Any]
    process: subprocess.Popen[bytes]  # the leader of the server's process group
    ready_after_s: float | None = None


def status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def wait_status(url: str, timeout: float, process: subprocess.Popen[bytes]) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise SystemExit(f"bench: the server for {url} exited ({process.returncode})")
        if status(url) == 200:
            return time.monotonic() - started
        time.sleep(0.02)
    raise SystemExit(f"bench: {url} not ready after {timeout:.0f}s")


@contextmanager
def server(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as handle:
        process = subprocess.Popen(
            cpus.as_server(command),
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def base_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("API_", "MLFLOW_TRACKING_URI", "PROMETHEUS_MULTIPROC_DIR"))
    }


def bin_path(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def start_servers(stack: ExitStack, tracking_uri: str, workdir: Path) -> dict[str, Target]:
    """The API, ``mlflow models serve`` and the floor, each ready (stopped by ``stack``)."""
    api_port, mlflow_port, floor_port = free_port(), free_port(), free_port()
    api_env = base_env() | {
        "API_PORT": str(api_port),
        "API_MODEL_URI": f"models:/{MODEL}@production",
        "API_TRACKING_URI": tracking_uri,
        "API_RELOAD_INTERVAL_SECONDS": "1",
    }
    api = stack.enter_context(server([bin_path("mlship-api")], api_env, workdir / "api.log"))
    api_url = f"http://127.0.0.1:{api_port}"
    # Measured first, alone: process start to ready, the model fetched from the registry.
    cold_start = wait_status(f"{api_url}/health/ready", 120, api)
    print(f"bench: cold start {cold_start:.3f} s", flush=True)
    # mlflow models serve execs uvicorn from PATH: the venv's.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    mlflow_env = base_env() | {"MLFLOW_TRACKING_URI": tracking_uri, "PATH": path}
    mlflow = stack.enter_context(
        server(
            [bin_path("mlflow"), "models", "serve", "-m", f"models:/{MODEL}@production",
             "--env-manager", "local", "-h", "127.0.0.1", "-p", str(mlflow_port), "-w", "1"],
            mlflow_env,
            workdir / "mlflow-serve.log",
        )
    )  # fmt: skip
    floor = stack.enter_context(
        server(
            # The API's own uvicorn options (see mlship.api.__main__), so that the two
            # differ only in the application.
            [bin_path("uvicorn"), "tests.bench.floor:app", "--host", "127.0.0.1",
             "--port", str(floor_port), "--workers", "1", "--no-access-log",
             "--no-server-header", "--no-proxy-headers", "--log-level", "warning"],
            base_env(),
            workdir / "floor.log",
        )
    )  # fmt: skip
    wait_status(f"http://127.0.0.1:{mlflow_port}/ping", 180, mlflow)
    wait_status(f"http://127.0.0.1:{floor_port}/", 60, floor)
    single = {"features": ROW}
    return {
        "api": Target(f"{api_url}/predict", single, api, round(cold_start, 3)),
        "mlflow_serve": Target(
            f"http://127.0.0.1:{mlflow_port}/invocations",
            {"dataframe_split": {"columns": FEATURES, "data": [ROW]}},
            mlflow,
        ),
        "floor": Target(f"http://127.0.0.1:{floor_port}/predict", single, floor),
    }
