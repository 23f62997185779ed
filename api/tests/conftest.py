"""In-process fixtures: a real MLflow model directory and the app under Starlette's TestClient."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mlship.api.app import create_app
from mlship.api.settings import Settings
from tests.support.models import save_model_dir

ClientFactory = Callable[..., Any]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_model_dir(tmp_path_factory.mktemp("model") / "model")


@pytest.fixture(scope="session")
def degraded_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_model_dir(tmp_path_factory.mktemp("degraded") / "model", degrade=True)


def wait_ready(client: TestClient, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/health/ready").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError(f"not ready after {timeout}s: {client.get('/health/ready').text}")


@contextmanager
def running(settings: Settings, *, ready: bool = True) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        if ready:
            wait_ready(client)
        yield client


@pytest.fixture
def client_for(model_dir: Path) -> Iterator[ClientFactory]:
    """Start the app with settings overrides (model from the local directory by default)."""
    stack: list[Any] = []

    def factory(**overrides: Any) -> TestClient:
        ready = overrides.pop("_ready", True)
        values: dict[str, Any] = {"model_uri": str(model_dir), "access_log": False, **overrides}
        manager = running(Settings(**values), ready=ready)
        client = manager.__enter__()
        stack.append(manager)
        return client

    yield factory
    for manager in reversed(stack):
        manager.__exit__(None, None, None)


@pytest.fixture
def client(client_for: ClientFactory) -> TestClient:
    result: TestClient = client_for()
    return result
