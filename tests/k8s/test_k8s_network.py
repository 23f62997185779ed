"""The network policies admit exactly the traffic the platform needs.

Policies are evaluated here with Kubernetes semantics (a peer with both a
namespace and a pod selector needs both to match) against the labels of the
rendered pods and of typical outside callers.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.k8s.manifests import API_DEPLOYMENTS, Labels, Manifest, named, of_kind, selector_matches

pytestmark = pytest.mark.integration

PROMETHEUS = (
    {"kubernetes.io/metadata.name": "monitoring"},
    {"app.kubernetes.io/name": "prometheus"},
)
INGRESS_CONTROLLER = (
    {"kubernetes.io/metadata.name": "ingress-nginx"},
    {"app.kubernetes.io/name": "ingress-nginx"},
)
TRAINER = {"app.kubernetes.io/name": "mlship-trainer", "app.kubernetes.io/component": "trainer"}
OTHER_POD = {"app.kubernetes.io/name": "grafana"}


def pod_labels(manifests: list[Manifest], deployment: str) -> Labels:
    template: Manifest = named(manifests, "Deployment", deployment)["spec"]["template"]
    labels: Labels = template["metadata"]["labels"]
    return labels


def admitted(
    manifests: list[Manifest],
    target: Labels,
    port: int,
    source: Labels,
    source_namespace: Labels | None = None,
) -> bool:
    """Whether some policy lets `source` (same namespace when none is given) reach `target`."""
    policies = [
        policy
        for policy in of_kind(manifests, "NetworkPolicy")
        if selector_matches(policy["spec"]["podSelector"], target)
    ]
    assert policies, "every pod must be covered by a policy (default deny)"
    return any(
        rule_admits(rule, port, source, source_namespace)
        for policy in policies
        for rule in policy["spec"].get("ingress", [])
    )


def rule_admits(
    rule: dict[str, Any], port: int, source: Labels, source_namespace: Labels | None
) -> bool:
    ports = rule.get("ports")
    if ports is not None and port not in {entry["port"] for entry in ports}:
        return False
    if "from" not in rule:
        return True  # a rule without peers admits every source
    for peer in rule["from"]:
        if "namespaceSelector" in peer:
            if source_namespace is None or not selector_matches(
                peer["namespaceSelector"], source_namespace
            ):
                continue
        elif source_namespace is not None:
            continue
        if selector_matches(peer.get("podSelector", {}), source):
            return True
    return False


def test_everything_else_is_denied(manifests: list[Manifest]) -> None:
    deny = named(manifests, "NetworkPolicy", "default-deny-ingress")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}


@pytest.mark.parametrize("deployment", API_DEPLOYMENTS)
def test_each_api_port_is_open_to_namespace_ingress_and_prometheus(
    manifests: list[Manifest], deployment: str
) -> None:
    api = pod_labels(manifests, deployment)
    assert admitted(manifests, api, 8000, OTHER_POD)
    assert admitted(manifests, api, 8000, INGRESS_CONTROLLER[1], INGRESS_CONTROLLER[0])
    assert admitted(manifests, api, 8000, PROMETHEUS[1], PROMETHEUS[0])
    assert not admitted(manifests, api, 8000, OTHER_POD, {"kubernetes.io/metadata.name": "other"})
    assert not admitted(manifests, api, 22, OTHER_POD)


def test_tracking_server_is_reachable_only_from_api_trainer_and_prometheus(
    manifests: list[Manifest],
) -> None:
    mlflow = pod_labels(manifests, "mlflow")
    for api in API_DEPLOYMENTS:
        assert admitted(manifests, mlflow, 5000, pod_labels(manifests, api))
        assert not admitted(manifests, mlflow, 5001, pod_labels(manifests, api))
    assert admitted(manifests, mlflow, 5000, TRAINER)
    # Prometheus scrapes the metrics port (no login there) and nothing else.
    assert admitted(manifests, mlflow, 5001, PROMETHEUS[1], PROMETHEUS[0])
    assert not admitted(manifests, mlflow, 5000, PROMETHEUS[1], PROMETHEUS[0])
    assert not admitted(manifests, mlflow, 5001, OTHER_POD)
    assert not admitted(manifests, mlflow, 5000, OTHER_POD)
    assert not admitted(manifests, mlflow, 5000, INGRESS_CONTROLLER[1], INGRESS_CONTROLLER[0])
    assert not admitted(manifests, mlflow, 5000, TRAINER, {"kubernetes.io/metadata.name": "other"})
