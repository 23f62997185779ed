"""Fault drill: API processes killed inside a running container.

- PID 1 (``mlship-api``) killed with SIGKILL, as a crash would: the restart
  policy brings the container back and it serves again.
- With two uvicorn workers, one worker killed (``docker exec … kill -9``):
  the service must keep answering throughout. It does not yet: uvicorn
  respawns the worker, which takes connections on the shared socket and
  answers 503 until its own model has loaded (expected failure, strict, so
  the drill reports the fix).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.containers.docker_engine import engine
from tests.support.components import free_port, wait_until
from tests.support.models import save_model_dir

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.docker]
SEED = {"features": [5.1, 3.5, 1.4, 0.2]}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = save_model_dir(tmp_path_factory.mktemp("fault-model") / "model")
    # The image runs as an unprivileged user: the bind-mounted files must be readable.
    for entry in [path, *path.rglob("*")]:
        entry.chmod(0o755 if entry.is_dir() else 0o644)
    return path


def run_api(image: str, model_dir: Path, *, workers: int) -> Iterator[tuple[Any, str]]:
    port = free_port()
    container = engine().containers.run(
        image,
        detach=True,
        environment={"API_MODEL_URI": "/model", "API_WORKERS": str(workers)},
        volumes={str(model_dir): {"bind": "/model", "mode": "ro"}},
        ports={"8000/tcp": ("127.0.0.1", port)},
        restart_policy={"Name": "on-failure", "MaximumRetryCount": 3},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: predicts(url), timeout=120, what="API container serving")
        yield container, url
    finally:
        container.remove(force=True)


def predicts(url: str) -> bool:
    response = httpx.post(f"{url}/predict", json=SEED, timeout=5)
    return response.status_code == 200 and response.json()["class_name"] == "setosa"


@pytest.fixture
def one_worker(api_image: str, model_dir: Path) -> Iterator[tuple[Any, str]]:
    yield from run_api(api_image, model_dir, workers=1)


@pytest.fixture
def two_workers(api_image: str, model_dir: Path) -> Iterator[tuple[Any, str]]:
    yield from run_api(api_image, model_dir, workers=2)


def test_killed_pid1_is_restarted_and_serves_again(one_worker: tuple[Any, str]) -> None:
    container, url = one_worker
    container.reload()
    host_pid = container.attrs["State"]["Pid"]
    if not Path(f"/proc/{host_pid}").exists():
        pytest.skip("the Docker engine's processes are not visible from this host")
    os.kill(host_pid, signal.SIGKILL)

    def restarted() -> bool:
        container.reload()
        return bool(container.attrs["RestartCount"] >= 1 and container.status == "running")

    wait_until(restarted, timeout=60, what="container restarted by its policy")
    wait_until(lambda: predicts(url), timeout=120, what="restarted container serving")
    assert container.attrs["State"]["Pid"] != host_pid


# Live uvicorn workers: children of PID 1 started by multiprocessing's spawn (not zombies).
LIST_WORKERS = (
    "import pathlib\n"
    "for pid in pathlib.Path('/proc/1/task/1/children').read_text().split():\n"
    "    proc = pathlib.Path('/proc', pid)\n"
    "    try:\n"
    "        alive = proc.joinpath('stat').read_text().rsplit(')', 1)[1].split()[0] != 'Z'\n"
    "        spawned = 'spawn_main' in proc.joinpath('cmdline').read_text()\n"
    "    except OSError:\n"
    "        continue\n"
    "    if alive and spawned:\n"
    "        print(pid)\n"
)


def live_workers(container: Any) -> list[str]:
    listed = container.exec_run(["python", "-c", LIST_WORKERS])
    assert listed.exit_code == 0, listed.output
    return list(listed.output.decode().split())


def test_killed_worker_leaves_the_service_answering(two_workers: tuple[Any, str]) -> None:
    container, url = two_workers
    workers = live_workers(container)
    assert len(workers) == 2, workers
    killed = container.exec_run(["sh", "-c", f"kill -9 {workers[0]}"])
    assert killed.exit_code == 0, killed.output
    # Every request from here on must succeed, each on a fresh connection so both
    # the surviving worker and any replacement get traffic.
    deadline = time.monotonic() + 10
    answered = 0
    while time.monotonic() < deadline:
        response = httpx.post(f"{url}/predict", json=SEED, timeout=5)
        assert response.status_code == 200, (answered, response.status_code, response.text)
        answered += 1
    assert answered > 0
    assert workers[0] not in live_workers(container)
    container.reload()
    assert container.status == "running"
    assert container.attrs["RestartCount"] == 0
