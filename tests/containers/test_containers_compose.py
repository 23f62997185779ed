"""Both compose files: Compose accepts them, the compose-spec schema accepts them,
bind mounts exist, ports stay on loopback, and required secrets fail fast."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.containers.docker_engine import REPOSITORY_ROOT
from tests.support.components import missing, venv_bin

pytestmark = pytest.mark.docker

LOCAL = "docker-compose.yml"
CI = "docker-compose.ci.yml"
# Throwaway values for the required variables.
SECRETS = {
    "POSTGRES_PASSWORD": "pw",  # pragma: allowlist secret
    "API_KEYS": "key",  # pragma: allowlist secret
    "GRAFANA_ADMIN_PASSWORD": "admin",  # pragma: allowlist secret
    "MLFLOW_ADMIN_PASSWORD": "admin-password-x",  # pragma: allowlist secret
    "MLFLOW_DELIVERY_PASSWORD": "delivery-password-x",  # pragma: allowlist secret
    "MLFLOW_READER_PASSWORD": "reader-password-x",  # pragma: allowlist secret
}
MLFLOW_PASSWORDS = ("MLFLOW_ADMIN_PASSWORD", "MLFLOW_DELIVERY_PASSWORD", "MLFLOW_READER_PASSWORD")
IMAGE_VARIABLES = ("PYTHON_IMAGE", "POSTGRES_IMAGE", "PROMETHEUS_IMAGE", "GRAFANA_IMAGE")


def _compose_cli() -> None:
    if shutil.which("docker") is None:
        missing("Docker", "no docker CLI on PATH (run ../shared/docker-offline/setup)")
    if (
        subprocess.run(
            ["docker", "compose", "version"], capture_output=True, check=False
        ).returncode
        != 0
    ):
        missing("Docker Compose v2", "`docker compose version` failed (install the plugin)")


def _environment(**overrides: str) -> dict[str, str]:
    # Only the variables a test sets: the developer's shell or .env must not leak in.
    environment = {
        key: value
        for key, value in os.environ.items()
        if key in {"PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG"}
    }
    environment.update(overrides)
    return environment


def compose_config(file: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    _compose_cli()
    return subprocess.run(
        # --env-file /dev/null: a developer's .env must not decide the outcome.
        [
            *("docker", "compose", "--env-file", os.devnull, "--profile", "manual"),
            *("-f", file, "config", "--format", "json"),
        ],
        cwd=REPOSITORY_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def rendered(file: str, **overrides: str) -> dict[str, Any]:
    result = compose_config(file, _environment(**overrides))
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


@pytest.fixture(scope="module")
def local_stack() -> dict[str, Any]:
    return rendered(LOCAL, **SECRETS)


@pytest.fixture(scope="module")
def ci_stack() -> dict[str, Any]:
    return rendered(CI, API_IMAGE="mlship/api:test")


def test_compose_spec_schema_accepts_both_files() -> None:
    result = subprocess.run(
        [venv_bin("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", LOCAL, CI],
        cwd=REPOSITORY_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("secret", sorted(SECRETS))
def test_local_stack_fails_fast_naming_a_missing_secret(secret: str) -> None:
    present = {key: value for key, value in SECRETS.items() if key != secret}
    result = compose_config(LOCAL, _environment(**present))
    assert result.returncode != 0
    assert f"required variable {secret} is missing a value" in result.stderr
    assert ".env" in result.stderr


def test_ci_stack_requires_the_api_image_under_test() -> None:
    result = compose_config(CI, _environment())
    assert result.returncode != 0
    assert "API_IMAGE" in result.stderr


def test_local_stack_services_and_policies(local_stack: dict[str, Any]) -> None:
    services = local_stack["services"]
    assert set(services) == {"postgres", "mlflow", "trainer", "api", "prometheus", "grafana"}
    assert services["trainer"]["profiles"] == ["manual"]
    for name, service in services.items():
        limits = service["deploy"]["resources"]["limits"]
        assert limits["memory"], name
        assert limits["cpus"], name
        expected = "no" if name == "trainer" else "unless-stopped"
        assert service["restart"] == expected, name
    assert services["mlflow"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["api"]["depends_on"]["mlflow"]["condition"] == "service_healthy"
    assert services["api"]["environment"]["API_MODEL_URI"] == "models:/IrisClassifier@production"
    assert "healthcheck" in services["postgres"]
    assert set(local_stack["volumes"]) >= {"postgres-data", "mlflow-artifacts"}


def identity_of(service: dict[str, Any]) -> tuple[str, str]:
    environment = service["environment"]
    return environment["MLFLOW_TRACKING_USERNAME"], environment["MLFLOW_TRACKING_PASSWORD"]


def test_local_stack_gives_each_service_one_registry_identity(
    local_stack: dict[str, Any],
) -> None:
    services = local_stack["services"]
    server = services["mlflow"]["environment"]
    assert server["MLFLOW_AUTH"] == "on"
    for variable in MLFLOW_PASSWORDS:
        assert server[variable] == SECRETS[variable]
    # The trainer writes as delivery, the API reads as reader; no one else holds a password.
    assert identity_of(services["trainer"]) == ("delivery", SECRETS["MLFLOW_DELIVERY_PASSWORD"])
    assert identity_of(services["api"]) == ("reader", SECRETS["MLFLOW_READER_PASSWORD"])
    for name, service in services.items():
        values = set(service.get("environment", {}).values())
        leaked = {variable for variable in MLFLOW_PASSWORDS if SECRETS[variable] in values}
        allowed = {
            "mlflow": set(MLFLOW_PASSWORDS),
            "trainer": {"MLFLOW_DELIVERY_PASSWORD"},
            "api": {"MLFLOW_READER_PASSWORD"},
        }.get(name, set())
        assert leaked <= allowed, (name, leaked - allowed)


def test_local_stack_usernames_can_be_chosen() -> None:
    names = {"MLFLOW_DELIVERY_USERNAME": "ci-bot", "MLFLOW_READER_USERNAME": "viewer"}
    services = rendered(LOCAL, **SECRETS, **names)["services"]
    assert services["mlflow"]["environment"]["MLFLOW_DELIVERY_USERNAME"] == "ci-bot"
    assert identity_of(services["trainer"])[0] == "ci-bot"
    assert identity_of(services["api"])[0] == "viewer"


def test_ci_stack_runs_the_registry_with_authentication(ci_stack: dict[str, Any]) -> None:
    services = ci_stack["services"]
    server = services["mlflow"]["environment"]
    assert server["MLFLOW_AUTH"] == "on"
    assert identity_of(services["trainer"]) == ("delivery", server["MLFLOW_DELIVERY_PASSWORD"])
    assert identity_of(services["api"]) == ("reader", server["MLFLOW_READER_PASSWORD"])
    overridden = rendered(CI, API_IMAGE="mlship/api:test", CI_MLFLOW_READER_PASSWORD="r" * 16)
    assert identity_of(overridden["services"]["api"]) == ("reader", "r" * 16)


def test_ci_stack_has_no_grafana_and_nothing_persistent(ci_stack: dict[str, Any]) -> None:
    services = ci_stack["services"]
    assert set(services) == {"postgres", "mlflow", "trainer", "api", "prometheus"}
    assert not ci_stack.get("volumes")
    for name, service in services.items():
        for mount in service.get("volumes", []):
            assert mount["type"] == "bind", (name, mount)
            assert mount.get("read_only"), (name, mount)
    assert services["api"]["image"] == "mlship/api:test"
    trainer_done = services["api"]["depends_on"]["trainer"]["condition"]
    assert trainer_done == "service_completed_successfully"


@pytest.mark.parametrize("file", [LOCAL, CI])
def test_every_bind_mount_exists(file: str) -> None:
    document = rendered(file, API_IMAGE="mlship/api:test", **SECRETS)
    binds = [
        (name, Path(mount["source"]))
        for name, service in document["services"].items()
        for mount in service.get("volumes", [])
        if mount["type"] == "bind"
    ]
    assert binds, "the stack mounts the observability configuration"
    for name, source in binds:
        assert source.is_relative_to(REPOSITORY_ROOT), (name, source)
        assert source.exists(), f"{file}: service {name} mounts {source}, which does not exist"


@pytest.mark.parametrize("file", [LOCAL, CI])
def test_published_ports_stay_on_loopback(file: str) -> None:
    document = rendered(file, API_IMAGE="mlship/api:test", **SECRETS)
    published = [
        (name, port)
        for name, service in document["services"].items()
        for port in service.get("ports", [])
    ]
    assert published
    for name, port in published:
        assert port["host_ip"] == "127.0.0.1", (name, port)


def test_base_images_come_from_variables_with_pinned_defaults() -> None:
    defaults = rendered(LOCAL, **SECRETS)["services"]
    for name in ("postgres", "prometheus", "grafana"):
        image = defaults[name]["image"]
        assert ":" in image, image
        assert not image.endswith(":latest"), image
    python_default = defaults["api"]["build"]["args"]["PYTHON_IMAGE"]
    assert ":" in python_default
    assert not python_default.endswith(":latest")

    mirrored = {variable: f"mirror.test/{variable.lower()}:1" for variable in IMAGE_VARIABLES}
    services = rendered(LOCAL, **SECRETS, **mirrored)["services"]
    assert services["postgres"]["image"] == mirrored["POSTGRES_IMAGE"]
    assert services["prometheus"]["image"] == mirrored["PROMETHEUS_IMAGE"]
    assert services["grafana"]["image"] == mirrored["GRAFANA_IMAGE"]
    for name in ("mlflow", "trainer", "api"):
        assert services[name]["build"]["args"]["PYTHON_IMAGE"] == mirrored["PYTHON_IMAGE"]
