"""The tracking server container of the dev overlay, run for real.

The image's entrypoint (platform/mlflow/entrypoint.sh), given the rendered
environment (ConfigMap, Secret, downward API, `$(VAR)` expansion) and nothing
else, starts `mlflow server` on the PostgreSQL database of the session's
tracking server. This proves that the settings the manifests pass are the ones
the image and mlflow read (backend store, proxied artifact destination, worker
count, allowed hosts, Prometheus exporter), which schema validation cannot.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.k8s.manifests import REPO_ROOT, Manifest, main_container
from tests.k8s.pod_runtime import PodFacts, container_environment, map_mounts
from tests.support import processes
from tests.support.components import free_port, wait_until
from tests.support.mlflow_server import MlflowServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ENTRYPOINT = REPO_ROOT / "platform" / "mlflow" / "entrypoint.sh"
NAMESPACE = "mlship-dev"
POD_IP = "10.244.1.7"


class RunningServer:
    def __init__(self, port: int, artifacts: Path) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.artifacts = artifacts

    def get(self, path: str, host: str) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", headers={"Host": host}, timeout=10)


@pytest.fixture(scope="module")
def tracking_server(
    rendered: dict[str, list[Manifest]],
    mlflow_server: MlflowServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningServer]:
    manifests = rendered["dev"]
    container = main_container(manifests, "mlflow")
    # The session's tracking database, already migrated: a second server on it
    # is what a second replica would be, and starts without the schema creation.
    facts = PodFacts(
        secrets={("mlship-mlflow-db", "backend-store-uri"): mlflow_server.backend_uri},
        fields={"metadata.namespace": NAMESPACE, "status.podIP": POD_IP},
    )
    environment = container_environment(manifests, container, facts)
    root = tmp_path_factory.mktemp("k8s-mlflow")
    mounts = map_mounts(environment, container, root)
    # No command in the manifest: the image's entrypoint runs.
    assert "command" not in container
    assert "args" not in container
    port = free_port()
    # Loopback on a free port instead of the pod's 0.0.0.0:5000; all else as rendered.
    assert (environment["MLFLOW_HOST"], environment["MLFLOW_PORT"]) == ("0.0.0.0", "5000")  # noqa: S104
    environment["MLFLOW_HOST"], environment["MLFLOW_PORT"] = "127.0.0.1", str(port)
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    log = root / "mlflow.log"
    process = processes.spawn(["sh", str(ENTRYPOINT)], log, env=environment)
    server = RunningServer(port, mounts.local["/var/lib/mlflow/artifacts"])
    try:
        wait_until(
            lambda: server.get("/health", "localhost").status_code == 200,
            timeout=120,
            what="mlflow server from the dev manifests",
            log=log,
        )
        yield server
        mounts.assert_intact()
    finally:
        processes.stop(process)


@pytest.mark.parametrize(
    "host",
    ["mlflow:5000", f"mlflow.{NAMESPACE}.svc:5000", f"mlflow.{NAMESPACE}.svc.cluster.local:5000"],
)
def test_service_names_are_allowed_hosts(tracking_server: RunningServer, host: str) -> None:
    response = tracking_server.get("/api/2.0/mlflow/experiments/search?max_results=1", host)
    assert response.status_code == 200, response.text


def test_other_hosts_are_rejected(tracking_server: RunningServer) -> None:
    path = "/api/2.0/mlflow/experiments/search?max_results=1"
    assert tracking_server.get(path, "attacker.example").status_code == 403
    # mlflow's default would admit any private address: the rendered list is in force.
    assert tracking_server.get(path, "10.244.1.8:5000").status_code == 403


def test_prometheus_scrapes_the_pod_address(tracking_server: RunningServer) -> None:
    response = tracking_server.get("/metrics", f"{POD_IP}:5000")
    assert response.status_code == 200
    assert "# TYPE" in response.text


def test_artifacts_land_in_the_mounted_destination(tracking_server: RunningServer) -> None:
    response = httpx.put(
        f"{tracking_server.base}/api/2.0/mlflow-artifacts/artifacts/k8s-check/hello.txt",
        content=b"stored through the proxy",
        headers={"Host": "mlflow:5000"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    stored = tracking_server.artifacts / "k8s-check" / "hello.txt"
    assert stored.read_bytes() == b"stored through the proxy"
