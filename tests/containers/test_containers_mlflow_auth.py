"""The tracking server image with authentication, on a real PostgreSQL container.

The image refuses to start without good passwords; started with them it admits
no anonymous caller, the reader reads (models registered after it started
included) and writes nothing, the delivery identity registers models and moves
aliases, the metrics port needs no login, and a restart provisions again
without losing anything, applying a changed password. The tests of the module
run in order on one server.
"""

from __future__ import annotations

import secrets
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from mlflow import MlflowClient
from mlflow.artifacts import download_artifacts
from mlflow.exceptions import MlflowException

from tests.containers.docker_engine import ProjectImages, base_image
from tests.support.components import wait_until
from tests.support.models import register_model

pytestmark = [pytest.mark.docker, pytest.mark.slow]

DATABASE_PASSWORD = secrets.token_hex(12)
MODEL = f"AuthModel_{uuid.uuid4().hex[:8]}"
START_TIMEOUT_SECONDS = 300
REFUSAL = "mlflow-auth: refusing to start: "
MLFLOW_DEFAULT_PASSWORD = "password1234"  # pragma: allowlist secret (MLflow's old default: refused)
SHORT_PASSWORD = "eleven-char"  # pragma: allowlist secret (one below MLflow's minimum of 12)


def good_passwords() -> dict[str, str]:
    return {
        "MLFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(18),
        "MLFLOW_DELIVERY_PASSWORD": secrets.token_urlsafe(18),
        "MLFLOW_READER_PASSWORD": secrets.token_urlsafe(18),
    }


def run_to_exit(image: str, environment: dict[str, str]) -> tuple[int, str]:
    arguments = ["docker", "run", "--rm"]
    for key, value in environment.items():
        arguments += ["-e", f"{key}={value}"]
    result = subprocess.run(
        [*arguments, image], capture_output=True, text=True, timeout=300, check=False
    )
    return result.returncode, result.stdout + result.stderr


@dataclass
class AuthServer:
    """One MLflow container on a private network with its PostgreSQL container."""

    engine: Any
    image: str
    network: str
    database_host: str
    environment: dict[str, str] = field(default_factory=good_passwords)
    container: Any = None

    @property
    def backend_uri(self) -> str:
        return f"postgresql+psycopg2://mlflow:{DATABASE_PASSWORD}@{self.database_host}:5432/mlflow"

    def login(self, identity: str) -> tuple[str, str]:
        return identity, self.environment[f"MLFLOW_{identity.upper()}_PASSWORD"]

    def start(self) -> AuthServer:
        self.container = self.engine.containers.run(
            self.image,
            detach=True,
            network=self.network,
            environment={"MLFLOW_BACKEND_STORE_URI": self.backend_uri, **self.environment},
            ports={"5000/tcp": ("127.0.0.1", None), "5001/tcp": ("127.0.0.1", None)},
        )
        return self.wait_healthy()

    def restart(self) -> AuthServer:
        self.container.restart(timeout=20)
        return self.wait_healthy()

    def replace(self, **changes: str) -> AuthServer:
        """A new container on the same database, with changed settings."""
        self.remove()
        self.environment = {**self.environment, **changes}
        return self.start()

    def wait_healthy(self) -> AuthServer:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        health = None
        while time.monotonic() < deadline:
            self.container.reload()
            health = self.container.attrs["State"].get("Health", {}).get("Status")
            if health == "healthy" or self.container.status == "exited":
                break
            time.sleep(1)
        assert health == "healthy", self.logs()[-4000:]
        return self

    def logs(self, since: int | None = None) -> str:
        output: bytes = self.container.logs(since=since)
        return output.decode(errors="replace")

    def url(self, port: int) -> str:
        # Read again after every start: a restart may publish other host ports.
        published = self.container.attrs["NetworkSettings"]["Ports"][f"{port}/tcp"]
        return f"http://127.0.0.1:{published[0]['HostPort']}"

    @property
    def base(self) -> str:
        return self.url(5000)

    def client(self, monkeypatch: pytest.MonkeyPatch, identity: str) -> MlflowClient:
        """MLflow's client logged in as ``identity`` (it reads the login from the environment)."""
        username, password = self.login(identity)
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", username)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
        return MlflowClient(self.base, registry_uri=self.base)

    def remove(self) -> None:
        if self.container is not None:
            self.container.remove(force=True)
            self.container = None


@pytest.fixture(scope="module")
def server(images: ProjectImages, docker_engine: Any) -> Iterator[AuthServer]:
    suffix = uuid.uuid4().hex[:8]
    network = docker_engine.networks.create(f"mlship-auth-{suffix}")
    database = docker_engine.containers.run(
        base_image("POSTGRES_IMAGE"),
        detach=True,
        name=f"mlship-auth-db-{suffix}",
        network=network.name,
        environment={
            "POSTGRES_USER": "mlflow",
            "POSTGRES_PASSWORD": DATABASE_PASSWORD,
            "POSTGRES_DB": "mlflow",
        },
    )
    server = AuthServer(docker_engine, images.mlflow, network.name, database.name)
    try:
        wait_until(
            lambda: (
                database.exec_run(["pg_isready", "-U", "mlflow", "-d", "mlflow"]).exit_code == 0
            ),
            timeout=120,
            what="PostgreSQL container",
        )
        yield server.start()
    finally:
        server.remove()
        database.remove(force=True)
        network.remove()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({}, "MLFLOW_ADMIN_PASSWORD (or MLFLOW_ADMIN_PASSWORD_FILE) is not set"),
        ({"MLFLOW_READER_PASSWORD": ""}, "MLFLOW_READER_PASSWORD is empty"),
        ({"MLFLOW_DELIVERY_PASSWORD": MLFLOW_DEFAULT_PASSWORD}, "well-known default password"),
        ({"MLFLOW_ADMIN_PASSWORD": SHORT_PASSWORD}, "shorter than 12 characters"),
        (
            {"MLFLOW_ADMIN_PASSWORD_FILE": "/run/secrets/admin"},
            "MLFLOW_ADMIN_PASSWORD and MLFLOW_ADMIN_PASSWORD_FILE are both set",
        ),
        ({"MLFLOW_READER_USERNAME": "admin"}, "usernames must differ"),
        # The image's default store is SQLite: never for users and passwords.
        ({"MLFLOW_BACKEND_STORE_URI": ""}, "must be PostgreSQL"),
    ],
    ids=["none", "empty", "default", "short", "both", "same-user", "sqlite"],
)
def test_refuses_to_start_without_good_credentials(
    images: ProjectImages, changes: dict[str, str], message: str
) -> None:
    environment = {
        **good_passwords(),
        "MLFLOW_BACKEND_STORE_URI": "postgresql+psycopg2://mlflow:x@nowhere:5432/mlflow",
    }
    if not changes:
        environment = {}  # the image as it comes: authentication on, no password
    environment.update(changes)
    if environment.get("MLFLOW_BACKEND_STORE_URI") == "":
        del environment["MLFLOW_BACKEND_STORE_URI"]
    code, output = run_to_exit(images.mlflow, environment)
    assert code == 2, output
    # One line saying why, before any database or server is touched.
    assert output.strip().splitlines() == [output.strip()], output
    assert output.startswith(REFUSAL), output
    assert message in output
    assert "Traceback" not in output


def test_secret_files_are_read(images: ProjectImages) -> None:
    # A secret mounted as a file, ending in a newline (written first: no bind mount needed).
    script = (
        f"printf '{MLFLOW_DEFAULT_PASSWORD}\\n' > /tmp/admin && exec /opt/mlflow/bin/entrypoint.sh"
    )
    result = subprocess.run(
        [
            *("docker", "run", "--rm", "--entrypoint", "sh"),
            *("-e", "MLFLOW_ADMIN_PASSWORD_FILE=/tmp/admin", images.mlflow, "-c", script),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # The file's content without its final newline is the password: here a refused one.
    assert result.returncode == 2, result.stderr
    assert "MLFLOW_ADMIN_PASSWORD is MLflow's well-known default password" in result.stderr


def test_provisioning_is_logged_without_passwords(server: AuthServer) -> None:
    logs = server.logs()
    for identity in ("admin", "delivery", "reader"):
        assert f"{identity} identity '{identity}' created" in logs
    for password in server.environment.values():
        assert password not in logs
    assert "authentication on" in logs


def test_anonymous_callers_get_nothing(server: AuthServer) -> None:
    api = f"{server.base}/api/2.0/mlflow"
    assert httpx.get(f"{server.base}/health").status_code == 200
    create = httpx.post(f"{api}/registered-models/create", json={"name": "Anonymous"})
    assert create.status_code == 401
    assert create.headers["WWW-Authenticate"].startswith("Basic")
    assert httpx.get(f"{api}/registered-models/search").status_code == 401
    assert httpx.get(f"{api}/experiments/get", params={"experiment_id": "0"}).status_code == 401
    # A wrong password is no better than none.
    reader, _ = server.login("reader")
    wrong = httpx.get(f"{api}/registered-models/search", auth=(reader, "not-the-password-1"))
    assert wrong.status_code == 401


def test_delivery_registers_a_model_and_moves_its_aliases(
    server: AuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = server.client(monkeypatch, "delivery")
    first = register_model(server.base, MODEL)
    second = register_model(server.base, MODEL, alias=None)
    client.set_registered_model_alias(MODEL, "previous", first)
    client.set_registered_model_alias(MODEL, "production", second)
    client.set_model_version_tag(MODEL, second, "gate", "passed")
    assert client.get_model_version_by_alias(MODEL, "production").version == second
    # Rollback: production back to the previous version, the previous alias removed.
    client.set_registered_model_alias(MODEL, "production", first)
    client.delete_registered_model_alias(MODEL, "previous")
    aliases = client.get_registered_model(MODEL).aliases
    assert aliases == {"production": first}


def refused(operation: Callable[[], object]) -> int:
    with pytest.raises(MlflowException) as error:
        operation()
    status: int = error.value.get_http_status_code()  # type: ignore[no-untyped-call]
    return status


def test_reader_reads_but_writes_nothing(
    server: AuthServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    client = server.client(monkeypatch, "reader")
    # A model the delivery identity registered after the server started: wildcard grants.
    version = client.get_model_version_by_alias(MODEL, "production")
    source = client.get_model_version_download_uri(MODEL, version.version)
    local = download_artifacts(
        artifact_uri=source, dst_path=str(tmp_path), tracking_uri=server.base
    )
    assert (Path(local) / "MLmodel").is_file()
    experiment = client.get_run(str(version.run_id)).info.experiment_id
    writes: dict[str, Callable[[], object]] = {
        "move an alias": lambda: client.set_registered_model_alias(MODEL, "production", "2"),
        "delete an alias": lambda: client.delete_registered_model_alias(MODEL, "production"),
        "tag a version": lambda: client.set_model_version_tag(MODEL, "1", "gate", "failed"),
        "add a version": lambda: client.create_model_version(MODEL, source, run_id=version.run_id),
        "describe the model": lambda: client.update_registered_model(MODEL, "changed"),
        "delete the model": lambda: client.delete_registered_model(MODEL),
        "log a run": lambda: client.create_run(experiment),
        "create a model": lambda: client.create_registered_model(f"Reader_{uuid.uuid4().hex}"),
        "create an experiment": lambda: client.create_experiment(f"reader-{uuid.uuid4().hex}"),
    }
    statuses = {name: refused(write) for name, write in writes.items()}
    assert statuses == dict.fromkeys(writes, 403)
    assert client.get_model_version_by_alias(MODEL, "production").version == version.version


def test_metrics_need_no_login_on_their_own_port_only(server: AuthServer) -> None:
    metrics = httpx.get(f"{server.url(5001)}/metrics")
    assert metrics.status_code == 200
    assert "mlflow_http_request_total" in metrics.text
    # The server's own /metrics stays behind the login (administrators only).
    assert httpx.get(f"{server.base}/metrics").status_code == 401
    assert httpx.get(f"{server.base}/metrics", auth=server.login("reader")).status_code == 403


def test_a_restart_provisions_again_and_keeps_everything(
    server: AuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    restarted = int(time.time())
    server.restart()
    logs = server.logs(since=restarted)
    for identity in ("admin", "delivery", "reader"):
        assert f"{identity} identity '{identity}' unchanged" in logs, logs[-4000:]
    client = server.client(monkeypatch, "reader")
    assert client.get_registered_model(MODEL).aliases == {"production": "1"}
    client = server.client(monkeypatch, "delivery")
    client.set_registered_model_alias(MODEL, "previous", "2")


def test_a_changed_password_takes_effect_at_the_next_start(server: AuthServer) -> None:
    old = server.login("reader")
    server.replace(MLFLOW_READER_PASSWORD=secrets.token_urlsafe(18))
    search = f"{server.base}/api/2.0/mlflow/registered-models/search"
    assert httpx.get(search, auth=old).status_code == 401
    assert httpx.get(search, auth=server.login("reader")).status_code == 200
    assert "reader identity 'reader' updated" in server.logs()
