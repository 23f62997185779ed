"""One API per declared model, generated from the specifications: each model's
Deployment, Service, autoscaler, disruption budget and scrape target exist, serve
that model and select its pods only; the generated files are current, and a new
specification without `make k8s-generate` fails the check the render runs first."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.k8s.manifests import (
    API_DEPLOYMENTS,
    K8S_DIR,
    MODEL_LABEL,
    MODELS,
    OBSERVABILITY_DIR,
    REPO_ROOT,
    Manifest,
    main_container,
    named,
    of_kind,
    pod_templates,
    render,
    run_generator,
    selector_matches,
)

pytestmark = pytest.mark.integration


def test_one_api_per_declared_model_and_the_tracking_server_are_rendered(
    manifests: list[Manifest],
) -> None:
    assert len(MODELS) >= 2, "model/models/ declares two models"
    assert {name for name, _ in pod_templates(manifests)} == {*API_DEPLOYMENTS, "mlflow"}


def test_each_api_serves_its_own_model_from_the_registry(
    manifests: list[Manifest], overlay: str
) -> None:
    for model, deployment in MODELS:
        container = main_container(manifests, deployment)
        # Its own env wins over the shared ConfigMap (Kubernetes: env after envFrom).
        uri = [v["value"] for v in container["env"] if v["name"] == "API_MODEL_URI"]
        # dev follows the alias; prod's bootstrap record too (a delivered record pins the
        # model baked into its image instead: test_k8s_gitops.py).
        assert uri == [f"models:/{model}@production"], f"{overlay}/{deployment}"
        template = named(manifests, "Deployment", deployment)["spec"]["template"]
        assert template["metadata"]["annotations"]["mlship.dev/model-name"] == model
    shared = [c for c in of_kind(manifests, "ConfigMap") if "API_MODEL_URI" in c.get("data", {})]
    assert not shared, "a shared ConfigMap must not name one model for all"


def test_each_models_objects_select_its_pods_only(manifests: list[Manifest]) -> None:
    templates = {
        deployment: named(manifests, "Deployment", deployment)["spec"]["template"]
        for deployment in API_DEPLOYMENTS
    }
    for deployment, template in templates.items():
        labels = template["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "mlship-api"  # policies and the job label
        selectors = {
            "Deployment": named(manifests, "Deployment", deployment)["spec"]["selector"],
            "Service": {"matchLabels": named(manifests, "Service", deployment)["spec"]["selector"]},
            "PodDisruptionBudget": named(manifests, "PodDisruptionBudget", deployment)["spec"][
                "selector"
            ],
            "topologySpread": template["spec"]["topologySpreadConstraints"][0]["labelSelector"],
        }
        for kind, selector in selectors.items():
            chosen = [
                name
                for name, other in templates.items()
                if selector_matches(selector, other["metadata"]["labels"])
            ]
            assert chosen == [deployment], f"{deployment}: its {kind} selects {chosen}"
        assert MODEL_LABEL in labels


def test_every_job_the_rules_select_is_scraped(manifests: list[Manifest]) -> None:
    """Every model's API is the Prometheus job mlship-api (jobLabel), as the rules expect."""
    jobs: dict[str, set[str]] = {}
    for monitor in of_kind(manifests, "ServiceMonitor"):
        spec = monitor["spec"]
        (service,) = [
            service
            for service in of_kind(manifests, "Service")
            if selector_matches(spec["selector"], service["metadata"].get("labels", {}))
        ]
        label = spec.get("jobLabel")
        job = service["metadata"]["labels"][label] if label else service["metadata"]["name"]
        jobs.setdefault(job, set()).add(service["metadata"]["name"])
    assert jobs["mlship-api"] == set(API_DEPLOYMENTS)
    rules = "".join(
        path.read_text() for path in (OBSERVABILITY_DIR / "prometheus/rules").glob("*.yml")
    )
    assert set(re.findall(r'job="([^"]+)"', rules)) <= set(jobs)


def test_a_new_model_needs_generating_and_then_renders(kubectl: str, tmp_path: Path) -> None:
    shutil.copytree(REPO_ROOT / "model/models", tmp_path / "model/models")
    shutil.copytree(K8S_DIR, tmp_path / "platform/k8s")
    shutil.copytree(OBSERVABILITY_DIR, tmp_path / "observability")
    spec = (tmp_path / "model/models/iris.toml").read_text()
    (tmp_path / "model/models/wine.toml").write_text(
        spec.replace('name = "IrisClassifier"', 'name = "WineClassifier"')
    )
    stale = run_generator(tmp_path, "check")
    assert stale.returncode == 1
    assert "platform/k8s/models/kustomization.yaml is missing or stale" in stale.stderr
    assert "run make k8s-generate" in stale.stderr
    assert run_generator(tmp_path, "generate").returncode == 0
    assert run_generator(tmp_path, "check").returncode == 0
    for overlay in ("dev", "prod"):
        manifests = render(kubectl, overlay, tmp_path / "platform/k8s")
        container = main_container(manifests, "mlship-api-wine-classifier")
        uri = [v["value"] for v in container["env"] if v["name"] == "API_MODEL_URI"]
        assert uri == ["models:/WineClassifier@production"]
    # A model removed from model/models/ leaves the manifests too.
    (tmp_path / "model/models/wine.toml").unlink()
    assert run_generator(tmp_path, "check").returncode == 1
    assert run_generator(tmp_path, "generate").returncode == 0
    assert not (tmp_path / "platform/k8s/models/WineClassifier").exists()
    assert not (tmp_path / "platform/k8s/overlays/prod/release/WineClassifier").exists()
