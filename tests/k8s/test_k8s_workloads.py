"""Every pod is hardened, probed and sized; Services, autoscaler, budget and
scrape targets all point at what really exists in the same render."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from mlflow.environment_variables import MLFLOW_TRACKING_PASSWORD, MLFLOW_TRACKING_USERNAME
from pydantic import AliasChoices

from mlship.api.settings import Settings
from tests.k8s.manifests import (
    Manifest,
    containers,
    env_value,
    main_container,
    named,
    of_kind,
    pod_spec,
    pod_templates,
    selector_matches,
)
from tests.k8s.pod_runtime import PodFacts, container_environment, map_mounts

pytestmark = pytest.mark.integration

AUTH_SECRET = "mlship-mlflow-auth"  # pragma: allowlist secret (a Secret's name)
# The registry credentials MLflow's client reads from the environment (the API's
# reader identity): not API settings, but the library's own variables.
MLFLOW_CLIENT_CREDENTIALS = {MLFLOW_TRACKING_USERNAME.name, MLFLOW_TRACKING_PASSWORD.name}
READER = {
    (AUTH_SECRET, "reader-username"): "reader",
    (AUTH_SECRET, "reader-password"): secrets.token_hex(16),
}


def settings_variables() -> set[str]:
    """Environment variable names the API's Settings class reads."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for field, info in Settings.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {str(choice).upper() for choice in alias.choices if str(choice) != field}
        else:
            names.add(f"{prefix}{field}".upper())
    return names


def api_container(manifests: list[Manifest]) -> Manifest:
    return main_container(manifests, "mlship-api")


def mlflow_container(manifests: list[Manifest]) -> Manifest:
    return main_container(manifests, "mlflow")


def test_both_workloads_are_rendered(manifests: list[Manifest]) -> None:
    assert {name for name, _ in pod_templates(manifests)} == {"mlship-api", "mlflow"}


def test_pods_run_as_non_root_without_a_token(manifests: list[Manifest]) -> None:
    for workload, template in pod_templates(manifests):
        spec = template["spec"]
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True, workload
        assert context["runAsUser"] > 0, workload
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, workload
        assert spec["automountServiceAccountToken"] is False, workload


def test_every_container_is_locked_down(manifests: list[Manifest]) -> None:
    for workload, _, container in containers(manifests):
        context = container["securityContext"]
        where = f"{workload}/{container['name']}"
        assert context["allowPrivilegeEscalation"] is False, where
        assert context["readOnlyRootFilesystem"] is True, where
        assert context.get("privileged", False) is False, where
        assert context["capabilities"]["drop"] == ["ALL"], where
        assert "add" not in context["capabilities"], where


def test_pods_use_only_volume_types_the_restricted_standard_allows(
    manifests: list[Manifest],
) -> None:
    allowed = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral"}
    allowed |= {"persistentVolumeClaim", "projected", "secret"}
    for workload, template in pod_templates(manifests):
        for volume in template["spec"].get("volumes", []):
            kinds = set(volume) - {"name"}
            assert kinds <= allowed, f"{workload}: volume {volume['name']} uses {kinds - allowed}"


def test_read_only_containers_get_a_writable_tmp(manifests: list[Manifest]) -> None:
    for workload, spec, container in containers(manifests):
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
        assert "/tmp" in mounts, f"{workload} has no writable /tmp"
        assert "emptyDir" in volumes[mounts["/tmp"]], workload


def test_every_container_has_http_probes_on_its_own_port(manifests: list[Manifest]) -> None:
    for workload, _, container in containers(manifests):
        ports = {port["name"] for port in container["ports"]}
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert probe in container, f"{workload} has no {probe}"
            assert container[probe]["httpGet"]["port"] in ports, f"{workload} {probe}"


def test_every_container_has_requests_and_limits(manifests: list[Manifest]) -> None:
    for workload, _, container in containers(manifests):
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), workload
        assert {"cpu", "memory"} <= set(resources["limits"]), workload


def test_api_probes_use_the_health_endpoints(manifests: list[Manifest]) -> None:
    container = api_container(manifests)
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/health/live"


def test_termination_drains_before_the_grace_period_ends(manifests: list[Manifest]) -> None:
    for workload, spec, container in containers(manifests):
        pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert 0 < pause < spec["terminationGracePeriodSeconds"] - 10, workload


def test_api_metrics_directory_lies_inside_an_empty_dir(manifests: list[Manifest]) -> None:
    spec = pod_spec(manifests, "mlship-api")
    container = api_container(manifests)
    directory = env_value(manifests, container, "PROMETHEUS_MULTIPROC_DIR")
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    # Strictly inside the mount: the API removes and recreates the directory at start.
    holders = [
        mount["name"]
        for mount in container["volumeMounts"]
        if directory.startswith(mount["mountPath"].rstrip("/") + "/")
    ]
    assert len(holders) == 1, f"{directory} is not inside exactly one volume mount"
    assert "emptyDir" in volumes[holders[0]]


def test_api_environment_names_only_api_settings(manifests: list[Manifest]) -> None:
    container = api_container(manifests)
    names = {variable["name"] for variable in container.get("env", [])}
    for source in container["envFrom"]:
        names |= set(named(manifests, "ConfigMap", source["configMapRef"]["name"])["data"])
    accepted = settings_variables() | MLFLOW_CLIENT_CREDENTIALS
    assert names <= accepted, f"not API settings: {sorted(names - accepted)}"


def secret_reference(container: Manifest, name: str) -> tuple[str, str]:
    """(Secret, key) an environment variable of the container is read from."""
    variable = next(variable for variable in container["env"] if variable["name"] == name)
    assert "value" not in variable, f"{name} is a literal, not read from a Secret"
    reference = variable["valueFrom"]["secretKeyRef"]
    assert not reference.get("optional", False), f"{name}: its Secret must exist"
    return reference["name"], reference["key"]


def test_api_reads_the_registry_as_the_reader(manifests: list[Manifest]) -> None:
    container = api_container(manifests)
    assert secret_reference(container, "MLFLOW_TRACKING_USERNAME") == (
        AUTH_SECRET,
        "reader-username",
    )
    assert secret_reference(container, "MLFLOW_TRACKING_PASSWORD") == (
        AUTH_SECRET,
        "reader-password",
    )


def test_api_settings_accept_the_rendered_environment(
    manifests: list[Manifest], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    container = api_container(manifests)
    keys = f"{secrets.token_hex(16)},{secrets.token_hex(16)}"
    facts = PodFacts(secrets={("mlship-api-keys", "api-keys"): keys, **READER}, fields={})
    environment = container_environment(manifests, container, facts)
    mounts = map_mounts(environment, container, tmp_path)
    for name in list(os.environ):
        if name.startswith(("API_", "MLFLOW_")) or name == "PROMETHEUS_MULTIPROC_DIR":
            monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    # In a pod the API must listen on every interface for the Service to reach it.
    assert settings.host == "0.0.0.0"  # noqa: S104
    assert settings.port == 8000
    assert settings.api_keys() == tuple(keys.split(","))
    assert settings.prometheus_multiproc_dir == mounts.local["/var/run/mlship"] / "metrics"
    assert settings.tracking_uri == "http://mlflow:5000"
    # MLflow's client takes the reader identity from the same environment.
    assert os.environ[MLFLOW_TRACKING_USERNAME.name] == READER[(AUTH_SECRET, "reader-username")]
    assert os.environ[MLFLOW_TRACKING_PASSWORD.name] == READER[(AUTH_SECRET, "reader-password")]


def test_api_reaches_the_tracking_server_service(manifests: list[Manifest]) -> None:
    tracking = urlsplit(env_value(manifests, api_container(manifests), "API_TRACKING_URI"))
    service = named(manifests, "Service", str(tracking.hostname))
    assert tracking.port in {port["port"] for port in service["spec"]["ports"]}


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


def test_services_route_to_a_named_container_port(manifests: list[Manifest]) -> None:
    templates = dict(pod_templates(manifests))
    for service in of_kind(manifests, "Service"):
        selected = [
            template
            for template in templates.values()
            if selector_matches(
                {"matchLabels": service["spec"]["selector"]}, template["metadata"]["labels"]
            )
        ]
        assert len(selected) == 1, service["metadata"]["name"]
        ports = {port["name"] for port in selected[0]["spec"]["containers"][0]["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, service["metadata"]["name"]


def test_scrape_annotations_name_the_metrics_port(manifests: list[Manifest]) -> None:
    for workload, template in pod_templates(manifests):
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true", workload
        assert annotations["prometheus.io/path"] == "/metrics", workload
        ports = {str(port["containerPort"]) for port in template["spec"]["containers"][0]["ports"]}
        assert annotations["prometheus.io/port"] in ports, workload


def test_autoscaler_and_budget_govern_the_api_pods(manifests: list[Manifest]) -> None:
    deployment = named(manifests, "Deployment", "mlship-api")
    autoscaler = named(manifests, "HorizontalPodAutoscaler", "mlship-api")
    target = autoscaler["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "mlship-api")
    # The autoscaler owns the replica count: a replicas field would reset it on apply.
    assert "replicas" not in deployment["spec"]
    assert autoscaler["spec"]["maxReplicas"] > autoscaler["spec"]["minReplicas"]
    budget = named(manifests, "PodDisruptionBudget", "mlship-api")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector_matches(budget["spec"]["selector"], labels)
    # A budget that allows no eviction at all would block every node drain.
    replicas = autoscaler["spec"]["minReplicas"]
    if "minAvailable" in budget["spec"]:
        assert 0 < budget["spec"]["minAvailable"] < replicas
        assert "maxUnavailable" not in budget["spec"]
    else:
        assert budget["spec"]["maxUnavailable"] >= 1
