"""The bench's servers, each in its own process group, pinned, logged and timed to ready.

Each is started alone and waited for, so its cold start (process start to
ready) is measured with nothing else starting beside it.
"""

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

from tests.bench import cpus
from tests.bench.models import BenchModel
from tests.support.components import free_port


@dataclass(frozen=True)
class Started:
    url: str  # http://127.0.0.1:port
    process: subprocess.Popen[bytes]  # the leader of the server's process group
    cold_start_s: float


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


def launch(
    stack: ExitStack,
    command: list[str],
    env: dict[str, str],
    *,
    log: Path,
    port: int,
    ready_path: str,
    timeout: float = 120,
) -> Started:
    """Start ``command`` (stopped by ``stack``) and wait until ``ready_path`` answers 200."""
    process = stack.enter_context(server(command, env, log))
    url = f"http://127.0.0.1:{port}"
    ready = wait_status(f"{url}{ready_path}", timeout, process)
    print(f"bench: {log.stem} ready after {ready:.3f} s", flush=True)
    return Started(url, process, round(ready, 3))


def base_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("API_", "MLFLOW_TRACKING_URI", "PROMETHEUS_MULTIPROC_DIR", "MLSERVER_")
        )
    }


def bin_path(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def start_api(stack: ExitStack, tracking_uri: str, model: BenchModel, workdir: Path) -> Started:
    """``mlship-api`` serving ``model`` from the registry (it polls the alias every second)."""
    port = free_port()
    env = base_env() | {
        "API_PORT": str(port),
        "API_MODEL_URI": model.uri,
        "API_TRACKING_URI": tracking_uri,
        "API_RELOAD_INTERVAL_SECONDS": "1",
    }
    log = workdir / f"api-{model.key}.log"
    return launch(
        stack, [bin_path("mlship-api")], env, log=log, port=port, ready_path="/health/ready"
    )


def start_mlflow_serve(
    stack: ExitStack, tracking_uri: str, model: BenchModel, workdir: Path
) -> Started:
    port = free_port()
    # mlflow models serve execs uvicorn from PATH: the venv's.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = base_env() | {"MLFLOW_TRACKING_URI": tracking_uri, "PATH": path}
    command = [bin_path("mlflow"), "models", "serve", "-m", model.uri, "--env-manager", "local",
               "-h", "127.0.0.1", "-p", str(port), "-w", "1"]  # fmt: skip
    log = workdir / f"mlflow_serve-{model.key}.log"
    return launch(stack, command, env, log=log, port=port, ready_path="/ping", timeout=180)


def start_floor(stack: ExitStack, model: BenchModel, workdir: Path) -> Started:
    port = free_port()
    # The API's own uvicorn options (see mlship.api.__main__), so that the two
    # differ only in the application.
    command = [bin_path("uvicorn"), "tests.bench.floor:app", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1", "--no-access-log",
               "--no-server-header", "--no-proxy-headers", "--log-level", "warning"]  # fmt: skip
    log = workdir / f"floor-{model.key}.log"
    return launch(stack, command, base_env(), log=log, port=port, ready_path="/", timeout=60)
