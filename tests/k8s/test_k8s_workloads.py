"""Every pod is hardened, probed and sized; Services, autoscalers, budgets and
scrape targets all point at what really exists in the same render (each model's
own API: test_k8s_models.py)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from mlflow.environment_variables import MLFLOW_TRACKING_PASSWORD, MLFLOW_TRACKING_USERNAME
from pydantic import AliasChoices

from mlship.api.settings import Settings
from tests.k8s.manifests import (
    API_DEPLOYMENTS,
    AUTH_SECRET,
    MODELS,
    Manifest,
    containers,
    env_value,
    main_container,
    named,
    of_kind,
    pod_spec,
    pod_templates,
    secret_reference,
    selector_matches,
)
from tests.k8s.pod_runtime import PodFacts, container_environment, map_mounts

pytestmark = pytest.mark.integration

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


def api_containers(manifests: list[Manifest]) -> Iterator[tuple[str, Manifest]]:
    yield from ((name, main_container(manifests, name)) for name in API_DEPLOYMENTS)


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
    for _, container in api_containers(manifests):
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert container["startupProbe"]["httpGet"]["path"] == "/health/live"


def test_termination_drains_before_the_grace_period_ends(manifests: list[Manifest]) -> None:
    for workload, spec, container in containers(manifests):
        pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert 0 < pause < spec["terminationGracePeriodSeconds"] - 10, workload


def test_api_metrics_directory_lies_inside_an_empty_dir(manifests: list[Manifest]) -> None:
    for deployment, container in api_containers(manifests):
        check_metrics_directory(manifests, pod_spec(manifests, deployment), container)


def check_metrics_directory(manifests: list[Manifest], spec: Manifest, container: Manifest) -> None:
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
    accepted = settings_variables() | MLFLOW_CLIENT_CREDENTIALS
    for deployment, container in api_containers(manifests):
        names = {variable["name"] for variable in container.get("env", [])}
        for source in container["envFrom"]:
            names |= set(named(manifests, "ConfigMap", source["configMapRef"]["name"])["data"])
        assert names <= accepted, f"{deployment}: not API settings: {sorted(names - accepted)}"


def test_api_reads_the_registry_as_the_reader(manifests: list[Manifest]) -> None:
    for _, container in api_containers(manifests):
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
    model, deployment = MODELS[-1]
    container = main_container(manifests, deployment)
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
    assert settings.model_uri == f"models:/{model}@production"
    # MLflow's client takes the reader identity from the same environment.
    assert os.environ[MLFLOW_TRACKING_USERNAME.name] == READER[(AUTH_SECRET, "reader-username")]
    assert os.environ[MLFLOW_TRACKING_PASSWORD.name] == READER[(AUTH_SECRET, "reader-password")]


def test_api_reaches_the_tracking_server_service(manifests: list[Manifest]) -> None:
    for _, container in api_containers(manifests):
        tracking = urlsplit(env_value(manifests, container, "API_TRACKING_URI"))
        service = named(manifests, "Service", str(tracking.hostname))
        assert tracking.port in {port["port"] for port in service["spec"]["ports"]}


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


@pytest.mark.parametrize("name", API_DEPLOYMENTS)
def test_autoscaler_and_budget_govern_each_models_api_pods(
    manifests: list[Manifest], name: str
) -> None:
    deployment = named(manifests, "Deployment", name)
    autoscaler = named(manifests, "HorizontalPodAutoscaler", name)
    target = autoscaler["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", name)
    # The autoscaler owns the replica count: a replicas field would reset it on apply.
    assert "replicas" not in deployment["spec"]
    assert autoscaler["spec"]["maxReplicas"] > autoscaler["spec"]["minReplicas"]
    budget = named(manifests, "PodDisruptionBudget", name)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector_matches(budget["spec"]["selector"], labels)
    # A budget that allows no eviction at all would block every node drain.
    replicas = autoscaler["spec"]["minReplicas"]
    if "minAvailable" in budget["spec"]:
        assert 0 < budget["spec"]["minAvailable"] < replicas
        assert "maxUnavailable" not in budget["spec"]
    else:
        assert budget["spec"]["maxUnavailable"] >= 1
