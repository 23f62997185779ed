"""The shared fixtures start real components: PostgreSQL stores what MLflow writes."""

from __future__ import annotations

from urllib.parse import urlsplit

import psycopg2
import pytest
from mlflow.tracking import MlflowClient

from tests.support.mlflow_server import MlflowServer
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.integration


def test_mlflow_server_persists_to_postgres(
    postgres: PostgresServer, mlflow_server: MlflowServer
) -> None:
    client = MlflowClient(tracking_uri=mlflow_server.uri)
    experiment_id = client.create_experiment(f"components-{mlflow_server.port}")

    database = urlsplit(mlflow_server.backend_uri).path.lstrip("/")
    connection = psycopg2.connect(postgres.url(database, driver="postgresql"))
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT name FROM experiments WHERE experiment_id = %s", (int(experiment_id),)
            )
            row = cursor.fetchone()
    finally:
        connection.close()
    assert row == (f"components-{mlflow_server.port}",)
