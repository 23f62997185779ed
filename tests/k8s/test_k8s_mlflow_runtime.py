"""The tracking server container of the dev overlay, run for real.

The image's entrypoint (platform/mlflow/entrypoint.sh), given the rendered
environment (ConfigMap, Secrets, downward API, `$(VAR)` expansion) and nothing
else, starts `mlflow server` with MLflow's basic-auth app on a fresh PostgreSQL
database, as the first pod of a new installation does: it migrates the schema,
provisions the three identities of the auth Secret and serves. This proves that
the settings the manifests pass are the ones the image and mlflow read (backend
store, identities, proxied artifact destination, worker count, allowed hosts,
metrics port), which schema validation cannot.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.k8s.manifests import REPO_ROOT, Manifest, main_container
from tests.k8s.pod_runtime import PodFacts, container_environment, map_mounts
from tests.support import processes
from tests.support.components import free_port, wait_until
from tests.support.postgres import PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ENTRYPOINT = REPO_ROOT / "platform" / "mlflow" / "entrypoint.sh"
NAMESPACE = "mlship-dev"
POD_IP = "10.244.1.7"
AUTH_SECRET = "mlship-mlflow-auth"  # pragma: allowlist secret (a Secret's name)
IDENTITIES = ("admin", "delivery", "reader")
SEARCH = "/api/2.0/mlflow/experiments/search?max_results=1"


class RunningServer:
    def __init__(
        self, port: int, metrics_port: int, artifacts: Path, logins: dict[str, tuple[str, str]]
    ) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.metrics = f"http://127.0.0.1:{metrics_port}"
        self.artifacts = artifacts
        self.logins = logins

    def get(self, path: str, host: str, identity: str | None = "reader") -> httpx.Response:
        auth = None if identity is None else self.logins[identity]
        return httpx.get(f"{self.base}{path}", headers={"Host": host}, auth=auth, timeout=10)

    def post(self, path: str, body: dict[str, str], identity: str | None) -> httpx.Response:
        auth = None if identity is None else self.logins[identity]
        headers = {"Host": "mlflow:5000"}
        return httpx.post(f"{self.base}{path}", json=body, headers=headers, auth=auth, timeout=10)


@pytest.fixture(scope="module")
def tracking_server(
    rendered: dict[str, list[Manifest]],
    postgres: PostgresServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningServer]:
    manifests = rendered["dev"]
    container = main_container(manifests, "mlflow")
    # A database of its own: the first start creates the schema and the users.
    database = postgres.create_database("k8s_mlflow")
    logins = {name: (f"{name}-k8s", secrets.token_urlsafe(18)) for name in IDENTITIES}
    auth = {
        (AUTH_SECRET, f"{name}-{part}"): value
        for name, (username, password) in logins.items()
        for part, value in (("username", username), ("password", password))
    }
    facts = PodFacts(
        secrets={("mlship-mlflow-db", "backend-store-uri"): postgres.url(database), **auth},
        fields={"metadata.namespace": NAMESPACE, "status.podIP": POD_IP},
    )
    environment = container_environment(manifests, container, facts)
    root = tmp_path_factory.mktemp("k8s-mlflow")
    mounts = map_mounts(environment, container, root)
    # No command in the manifest: the image's entrypoint runs.
    assert "command" not in container
    assert "args" not in container
    port, metrics_port = free_port(), free_port()
    # Loopback on free ports instead of the pod's 0.0.0.0:5000 and 5001; all else as rendered.
    rendered_address = (environment["MLFLOW_HOST"], environment["MLFLOW_PORT"])
    assert rendered_address == ("0.0.0.0", "5000")  # noqa: S104
    assert environment["MLFLOW_METRICS_PORT"] == "5001"
    environment["MLFLOW_HOST"], environment["MLFLOW_PORT"] = "127.0.0.1", str(port)
    environment["MLFLOW_METRICS_PORT"] = str(metrics_port)
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    log = root / "mlflow.log"
    process = processes.spawn(["sh", str(ENTRYPOINT)], log, env=environment)
    server = RunningServer(port, metrics_port, mounts.local["/var/lib/mlflow/artifacts"], logins)
    try:
        wait_until(
            lambda: server.get("/health", "localhost", identity=None).status_code == 200,
            timeout=240,
            what="mlflow server from the dev manifests",
            log=log,
        )
        yield server
        mounts.assert_intact()
        # The auth configuration went to the pod's /tmp volume, not to the image.
        assert (mounts.local["/tmp"] / "mlflow-auth" / "basic_auth.ini").is_file()
    finally:
        processes.stop(process)


@pytest.mark.parametrize(
    "host",
    ["mlflow:5000", f"mlflow.{NAMESPACE}.svc:5000", f"mlflow.{NAMESPACE}.svc.cluster.local:5000"],
)
def test_service_names_are_allowed_hosts(tracking_server: RunningServer, host: str) -> None:
    response = tracking_server.get(SEARCH, host)
    assert response.status_code == 200, response.text


def test_other_hosts_are_rejected(tracking_server: RunningServer) -> None:
    assert tracking_server.get(SEARCH, "attacker.example").status_code == 403
    # mlflow's default would admit any private address: the rendered list is in force.
    assert tracking_server.get(SEARCH, "10.244.1.8:5000").status_code == 403


def test_nothing_is_served_without_a_login(tracking_server: RunningServer) -> None:
    assert tracking_server.get(SEARCH, "mlflow:5000", identity=None).status_code == 401
    create = tracking_server.post(
        "/api/2.0/mlflow/registered-models/create", {"name": "Anonymous"}, identity=None
    )
    assert create.status_code == 401
    # The server's own /metrics needs a login too; Prometheus uses the metrics port.
    assert tracking_server.get("/metrics", "mlflow:5000", identity=None).status_code == 401


def test_identities_come_from_the_auth_secret(tracking_server: RunningServer) -> None:
    model = {"name": f"K8sAuth_{secrets.token_hex(4)}"}
    create = "/api/2.0/mlflow/registered-models/create"
    assert tracking_server.post(create, model, identity="reader").status_code == 403
    response = tracking_server.post(create, model, identity="delivery")
    assert response.status_code == 200, response.text
    # The reader's grant covers a model created after the server started.
    read = tracking_server.get(
        f"/api/2.0/mlflow/registered-models/get?name={model['name']}", "mlflow:5000"
    )
    assert read.status_code == 200, read.text
    username, _ = tracking_server.logins["reader"]
    wrong = httpx.get(
        f"{tracking_server.base}{SEARCH}",
        headers={"Host": "mlflow:5000"},
        auth=(username, "not-the-password"),
        timeout=10,
    )
    assert wrong.status_code == 401


def test_prometheus_scrapes_the_metrics_port_without_a_login(
    tracking_server: RunningServer,
) -> None:
    assert tracking_server.get(SEARCH, "mlflow:5000").status_code == 200  # one to count
    response = httpx.get(
        f"{tracking_server.metrics}/metrics", headers={"Host": f"{POD_IP}:5001"}, timeout=10
    )
    assert response.status_code == 200
    assert "mlflow_http_request_total" in response.text


def test_artifacts_land_in_the_mounted_destination(tracking_server: RunningServer) -> None:
    response = httpx.put(
        f"{tracking_server.base}/api/2.0/mlflow-artifacts/artifacts/k8s-check/hello.txt",
        content=b"stored through the proxy",
        headers={"Host": "mlflow:5000"},
        auth=tracking_server.logins["admin"],
        timeout=10,
    )
    assert response.status_code == 200, response.text
    stored = tracking_server.artifacts / "k8s-check" / "hello.txt"
    assert stored.read_bytes() == b"stored through the proxy"
