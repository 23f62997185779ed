"""Fixtures shared by every suite: real PostgreSQL and real MLflow servers.

Suites register models under unique names so that one session-wide tracking
server can serve them all without interference.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.mlflow_server import MlflowServer, new_mlflow_server
from tests.support.postgres import PostgresServer, postgres_server


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
