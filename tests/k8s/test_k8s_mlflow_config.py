"""The tracking server's Deployment: configured by environment alone, logins on,
every identity from the auth Secret, its metrics and artifacts on real volumes."""

from __future__ import annotations

import pytest

from tests.k8s.manifests import (
    AUTH_SECRET,
    Manifest,
    env_value,
    main_container,
    named,
    pod_spec,
    secret_reference,
)

pytestmark = pytest.mark.integration


def mlflow_container(manifests: list[Manifest]) -> Manifest:
    return main_container(manifests, "mlflow")


def test_mlflow_server_is_configured_from_environment(manifests: list[Manifest]) -> None:
    container = mlflow_container(manifests)
    # The image's entrypoint starts mlflow server from the MLFLOW_* environment.
    assert "command" not in container
    assert "args" not in container
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert int(env_value(manifests, container, "MLFLOW_PORT")) == ports["http"]
    assert int(env_value(manifests, container, "MLFLOW_WORKERS")) >= 1
    backend = next(
        variable for variable in container["env"] if variable["name"] == "MLFLOW_BACKEND_STORE_URI"
    )
    assert backend["valueFrom"]["secretKeyRef"]["name"] == "mlship-mlflow-db"
    # Authentication on; every identity's name and password from the auth Secret.
    assert env_value(manifests, container, "MLFLOW_AUTH") == "on"
    for identity in ("admin", "delivery", "reader"):
        for part in ("username", "password"):
            variable = f"MLFLOW_{identity.upper()}_{part.upper()}"
            assert secret_reference(container, variable) == (AUTH_SECRET, f"{identity}-{part}")
    allowed = env_value(manifests, container, "MLFLOW_ALLOWED_HOSTS").split(",")
    assert "mlflow:5000" in allowed
    assert "*" not in allowed
    spec = pod_spec(manifests, "mlflow")
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    exporter = env_value(manifests, container, "MLFLOW_EXPOSE_PROMETHEUS")
    assert "emptyDir" in volumes[mounts[exporter]]
    assert int(env_value(manifests, container, "MLFLOW_METRICS_PORT")) == ports["metrics"]
    artifacts = env_value(manifests, container, "MLFLOW_ARTIFACTS_DESTINATION")
    claim = volumes[mounts[artifacts]]["persistentVolumeClaim"]["claimName"]
    named(manifests, "PersistentVolumeClaim", claim)
