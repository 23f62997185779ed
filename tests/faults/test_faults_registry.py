"""Fault drills on the registry side, with real PostgreSQL, MLflow server and API.

The module owns a throwaway PostgreSQL cluster (so restarting it disturbs no
other suite), a tracking server on it and an API serving from that registry.

- PostgreSQL restarted while clients predict: no prediction fails and the
  tracking server answers registry calls again afterwards.
- A promoted version whose artifact is corrupt in the server's artifact store:
  not swapped in, the old version keeps serving, the failed-reload counter rises.

The tracking server itself stopped and restarted while serving is drilled by
``tests/integration/test_api_live.py::test_registry_stopped_while_serving``.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import mlflow
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.api_process import ApiProcess, api_process
from tests.support.components import free_port, wait_until
from tests.support.mlflow_server import MlflowServer, new_mlflow_server
from tests.support.models import register_model
from tests.support.postgres import ThrowawayCluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]
NAME = "FaultDrillModel"
SEED = {"features": [5.1, 3.5, 1.4, 0.2]}
CLIENTS = 4
MAX_REQUESTS = 4000  # across all clients: the load stays bounded in count and time


@dataclass
class Stack:
    cluster: ThrowawayCluster
    server: MlflowServer
    api: ApiProcess
    production: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Not under pytest's temporary directory: the postgres user must reach the cluster.
    root = Path(tempfile.mkdtemp(prefix="mlship-fault-pg-"))
    cluster = ThrowawayCluster(root, free_port())
    try:
        postgres = cluster.start()
        server = new_mlflow_server(postgres, tmp_path_factory.mktemp("fault-mlflow")).start()
        try:
            production = register_model(server.uri, NAME)
            with api_process(
                tmp_path_factory.mktemp("fault-api"),
                API_MODEL_URI=f"models:/{NAME}@production",
                API_TRACKING_URI=server.uri,
                API_RELOAD_INTERVAL_SECONDS="0.5",
                API_REGISTRY_TIMEOUT_SECONDS="2",
            ) as api:
                api.wait_for("/health/ready", 200, timeout=120)
                yield Stack(cluster, server, api, production)
        finally:
            server.stop()
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def predict_until(url: str, stop: threading.Event, outcomes: Counter[str]) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        while not stop.is_set() and outcomes.total() < MAX_REQUESTS:
            try:
                response = client.post("/predict", json=SEED)
                outcomes[str(response.status_code)] += 1
            except httpx.HTTPError as error:
                outcomes[type(error).__name__] += 1


def reload_count(api: ApiProcess, result: str) -> float:
    exposition = httpx.get(f"{api.url}/metrics").text
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == "mlship_model_reloads_total" and sample.labels["result"] == result:
                return sample.value
    return 0.0


def test_postgres_restart_under_load(stack: Stack) -> None:
    outcomes: Counter[str] = Counter()
    stop = threading.Event()
    clients = [
        threading.Thread(target=predict_until, args=(stack.api.url, stop, outcomes))
        for _ in range(CLIENTS)
    ]
    for client in clients:
        client.start()
    try:
        time.sleep(0.5)  # traffic is flowing before the database goes away
        stack.cluster.restart()
        time.sleep(0.5)
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=30)
    assert set(outcomes) == {"200"}, outcomes
    assert outcomes["200"] > 0

    registry = mlflow.MlflowClient(stack.server.uri)

    def registry_answers() -> bool:
        version = registry.get_model_version_by_alias(NAME, "production")
        return bool(version.version == stack.production)

    # The server's pooled connections died with the restart; it must reconnect.
    wait_until(registry_answers, timeout=60, what="tracking server answering after restart")
    registry.set_registered_model_tag(NAME, "drill", "postgres-restart")
    assert registry.get_registered_model(NAME).tags["drill"] == "postgres-restart"


def artifact_files(server: MlflowServer, version: str) -> list[Path]:
    """Files of ``version``'s model in the server's artifact store (proxied artifacts)."""
    client = mlflow.MlflowClient(server.uri)
    source = client.get_model_version(NAME, version).source
    assert source, f"version {version} has no source"
    if source.startswith("models:/"):
        source = client.get_logged_model(source.removeprefix("models:/")).artifact_location
    if source.startswith("runs:/"):
        run_id, _, inner = source.removeprefix("runs:/").partition("/")
        source = f"{client.get_run(run_id).info.artifact_uri}/{inner}"
    relative = source.removeprefix("mlflow-artifacts:").lstrip("/")
    files = [
        path for path in (server.workdir / "artifacts" / relative).rglob("*") if path.is_file()
    ]
    assert files, f"no artifact files for version {version} under {relative}"
    return files


def test_promoted_version_with_corrupt_artifact_is_not_swapped_in(stack: Stack) -> None:
    broken = register_model(stack.server.uri, NAME, alias=None)
    # The served form: the file the API loads into ONNX Runtime.
    served = [path for path in artifact_files(stack.server, broken) if path.suffix == ".onnx"]
    assert served, "the model artifact holds no ONNX file to corrupt"
    for path in served:
        path.write_bytes(b"not a model: corrupted in the artifact store")
    failed_before = reload_count(stack.api, "failed")

    mlflow.MlflowClient(stack.server.uri).set_registered_model_alias(NAME, "production", broken)

    def rejected() -> bool:
        return broken in httpx.get(f"{stack.api.url}/model").json()["failed_versions"]

    wait_until(rejected, timeout=60, what="corrupt version rejected")
    assert httpx.get(f"{stack.api.url}/model").json()["version"] == stack.production
    response = httpx.post(f"{stack.api.url}/predict", json=SEED)
    assert response.status_code == 200
    assert response.json()["model_version"] == stack.production
    assert reload_count(stack.api, "failed") > failed_before
    assert httpx.get(f"{stack.api.url}/health/ready").status_code == 200
