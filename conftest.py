"""Fixtures shared by every suite: real PostgreSQL and real MLflow servers.

Suites register models under unique names so that one session-wide tracking
server can serve them all without interference.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mlflow.tracking._model_registry import utils as registry_uri_state
from mlflow.tracking._tracking_service import utils as tracking_uri_state

from tests.support.mlflow_server import MlflowServer, new_mlflow_server
from tests.support.postgres import PostgresServer, postgres_server

MLFLOW_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@pytest.fixture(autouse=True)
def isolated_mlflow_uris(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Undo what a test did to MLflow's process-wide tracking and registry URIs.

    ``mlflow.set_tracking_uri``/``set_registry_uri`` change module state, and the
    latter also exports ``MLFLOW_REGISTRY_URI`` into ``os.environ``: left alone, one
    test's server would become the registry of every later client in the session (and
    of every subprocess, act's workflow steps included).
    """
    monkeypatch.setattr(tracking_uri_state, "_tracking_uri", tracking_uri_state._tracking_uri)
    monkeypatch.setattr(registry_uri_state, "_registry_uri", registry_uri_state._registry_uri)
    saved = {name: os.environ.get(name) for name in MLFLOW_URI_VARIABLES}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    yield from postgres_server()


@pytest.fixture(scope="session")
def mlflow_server(
    postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MlflowServer]:
    """One PostgreSQL-backed tracking server for the whole session."""
    server = new_mlflow_server(postgres, tmp_path_factory.mktemp("mlflow")).start()
    yield server
    server.stop()


@pytest.fixture
def private_mlflow_server(
    postgres: PostgresServer, tmp_path: Path
) -> Iterator[Callable[[], MlflowServer]]:
    """Factory for a tracking server a test may stop and start (fault tests)."""
    started: list[MlflowServer] = []

    def factory() -> MlflowServer:
        server = new_mlflow_server(postgres, tmp_path / f"mlflow-{len(started)}").start()
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture
def model_name() -> str:
    """A registered-model name no other test uses."""
    return f"TestModel_{uuid.uuid4().hex[:8]}"
