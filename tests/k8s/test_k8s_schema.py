"""Every rendered document validates against the Kubernetes schemas, strictly.

Strict mode rejects any property the schema does not define, so a misspelt or
misplaced field fails here instead of being dropped by the API server.

Custom resources: kubernetes-validate ships the schemas of the built-in kinds
only, so it cannot check a ServiceMonitor (prometheus-operator CRD) and says so
with SchemaNotFoundError. Such documents are listed in CUSTOM_RESOURCES; for
them the metadata is validated strictly (as ObjectMeta of a built-in kind) and
the spec is checked against the fields prometheus-operator defines and against
the Service it must select. Any other kind without a schema fails.
"""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from tests.k8s.manifests import API_DEPLOYMENTS, Manifest, named, of_kind, selector_matches

pytestmark = pytest.mark.integration

KUBERNETES_VERSION = "1.37.0"
CUSTOM_RESOURCES = {("monitoring.coreos.com/v1", "ServiceMonitor")}
# ServiceMonitor fields used here, from the prometheus-operator v1 API reference.
SERVICE_MONITOR_SPEC = {"selector", "endpoints", "namespaceSelector", "jobLabel", "targetLabels"}
SERVICE_MONITOR_ENDPOINT = {"port", "path", "interval", "scrapeTimeout", "scheme", "honorLabels"}


def validate(document: Manifest) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def describe(document: Manifest) -> str:
    return f"{document['kind']}/{document['metadata']['name']}"


def test_every_document_validates_strictly(manifests: list[Manifest]) -> None:
    failures: list[str] = []
    for document in manifests:
        if (document["apiVersion"], document["kind"]) in CUSTOM_RESOURCES:
            continue
        try:
            validate(document)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            failures.append(f"{describe(document)}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            failures.append(f"{describe(document)}: {error.message}")
    assert not failures, "\n".join(failures)


def test_strict_validation_rejects_an_unknown_field(manifests: list[Manifest]) -> None:
    broken = copy.deepcopy(named(manifests, "Deployment", API_DEPLOYMENTS[0]))
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["readinessprobe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)


def test_custom_resources_have_no_bundled_schema(manifests: list[Manifest]) -> None:
    # If kubernetes-validate ever ships these schemas, validate them like the rest.
    for document in manifests:
        if (document["apiVersion"], document["kind"]) in CUSTOM_RESOURCES:
            with pytest.raises(kubernetes_validate.SchemaNotFoundError):
                validate(document)


def test_custom_resource_metadata_validates_strictly(manifests: list[Manifest]) -> None:
    for document in manifests:
        if (document["apiVersion"], document["kind"]) in CUSTOM_RESOURCES:
            as_builtin = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": document["metadata"]}
            validate(as_builtin)


def service_ports(service: Manifest) -> dict[str, Any]:
    return {port["name"]: port for port in service["spec"]["ports"]}


def test_service_monitors_select_a_service_port(manifests: list[Manifest]) -> None:
    monitors = of_kind(manifests, "ServiceMonitor")
    assert {monitor["metadata"]["name"] for monitor in monitors} == {*API_DEPLOYMENTS, "mlflow"}
    for monitor in monitors:
        spec = monitor["spec"]
        assert set(spec) <= SERVICE_MONITOR_SPEC, describe(monitor)
        selected = [
            service
            for service in of_kind(manifests, "Service")
            if selector_matches(spec["selector"], service["metadata"].get("labels", {}))
        ]
        assert len(selected) == 1, f"{describe(monitor)} selects {len(selected)} Services"
        # Each monitor scrapes its own Service (the job names: test_k8s_models.py).
        assert selected[0]["metadata"]["name"] == monitor["metadata"]["name"]
        for endpoint in spec["endpoints"]:
            assert set(endpoint) <= SERVICE_MONITOR_ENDPOINT, describe(monitor)
            assert endpoint["port"] in service_ports(selected[0])
            assert endpoint["path"] == "/metrics"
