"""What distinguishes dev from prod, and what both must never contain: a
floating image tag in production or a secret value in any manifest."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.k8s.manifests import (
    API_DEPLOYMENTS,
    K8S_DIR,
    Manifest,
    containers,
    main_container,
    named,
    of_kind,
)

pytestmark = pytest.mark.integration

NAMESPACES = {"dev": "mlship-dev", "prod": "mlship-prod"}
# Environment variable names that hold a credential or a URI that embeds one.
SENSITIVE_NAME = re.compile(r"KEY|PASSWORD|TOKEN|SECRET|CREDENTIAL|BACKEND_STORE_URI|DSN")
CREDENTIALS_IN_URI = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)
# name (a registry port is allowed), then an optional :tag and an optional @digest.
IMAGE = re.compile(
    r"^(?P<name>[^@:]+(?::\d+/[^@:]+)?)"
    r"(?::(?P<tag>\w[\w.-]*))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif isinstance(node, str):
        yield node


def test_every_namespaced_object_lands_in_the_overlay_namespace(
    manifests: list[Manifest], overlay: str
) -> None:
    namespace = NAMESPACES[overlay]
    named(manifests, "Namespace", namespace)
    for document in manifests:
        if document["kind"] != "Namespace":
            assert document["metadata"]["namespace"] == namespace, document["metadata"]["name"]


def test_namespace_enforces_the_restricted_pod_security_standard(
    manifests: list[Manifest], overlay: str
) -> None:
    labels = named(manifests, "Namespace", NAMESPACES[overlay])["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("api", API_DEPLOYMENTS)
def test_dev_runs_one_small_replica_of_each_api(
    rendered: dict[str, list[Manifest]], api: str
) -> None:
    dev, prod = rendered["dev"], rendered["prod"]
    assert named(dev, "HorizontalPodAutoscaler", api)["spec"]["minReplicas"] == 1
    dev_limits = main_container(dev, api)["resources"]["limits"]
    prod_limits = main_container(prod, api)["resources"]["limits"]
    assert dev_limits != prod_limits


@pytest.mark.parametrize("api", API_DEPLOYMENTS)
def test_prod_runs_three_replicas_of_each_api_with_a_budget_and_bounds(
    rendered: dict[str, list[Manifest]], api: str
) -> None:
    prod = rendered["prod"]
    autoscaler = named(prod, "HorizontalPodAutoscaler", api)["spec"]
    assert (autoscaler["minReplicas"], autoscaler["maxReplicas"]) == (3, 10)
    assert named(prod, "PodDisruptionBudget", api)["spec"]["minAvailable"] == 2


def test_prod_images_are_pinned(rendered: dict[str, list[Manifest]]) -> None:
    for workload, _, container in containers(rendered["prod"]):
        match = IMAGE.match(container["image"])
        assert match, f"{workload}: unparsable image {container['image']}"
        assert match["tag"] or match["digest"], f"{workload}: {container['image']} has no tag"
        assert match["tag"] != "latest", f"{workload}: {container['image']}"


def test_no_overlay_uses_latest(manifests: list[Manifest]) -> None:
    for workload, _, container in containers(manifests):
        assert not container["image"].endswith(":latest"), workload
        assert ":" in container["image"] or "@" in container["image"], workload


def test_secrets_are_referenced_never_embedded(manifests: list[Manifest]) -> None:
    assert not of_kind(manifests, "Secret"), "a Secret is created out of band, never rendered"
    for workload, _, container in containers(manifests):
        for variable in container.get("env", []):
            if SENSITIVE_NAME.search(variable["name"]):
                assert "secretKeyRef" in variable.get("valueFrom", {}), (
                    f"{workload}: {variable['name']} must come from a Secret"
                )
    for config in of_kind(manifests, "ConfigMap"):
        for key in config.get("data", {}):
            assert not SENSITIVE_NAME.search(key), f"{config['metadata']['name']}: {key}"
    leaked = [text for text in strings(manifests) if CREDENTIALS_IN_URI.search(text)]
    assert not leaked, leaked


def test_readme_lists_every_secret_to_create(manifests: list[Manifest]) -> None:
    readme = (K8S_DIR / "README.md").read_text()
    for workload, _, container in containers(manifests):
        for variable in container.get("env", []):
            reference = variable.get("valueFrom", {}).get("secretKeyRef")
            if reference:
                assert reference["name"] in readme, workload
                assert reference["key"] in readme, workload
