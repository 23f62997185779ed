"""Git records what production runs: each model's deploy record in the prod overlay,
the render it produces, and the Argo CD Application that makes the cluster follow it.

The record's script itself is tested in tests/workflows/test_deploy_record.py.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from tests.k8s.manifests import (
    K8S_DIR,
    MODELS,
    OBSERVABILITY_DIR,
    REPO_ROOT,
    Manifest,
    main_container,
    named,
    render,
)
from tests.support.components import venv_bin

pytestmark = pytest.mark.integration

SCRIPT = REPO_ROOT / ".github/scripts/deploy_record.py"
PROD = K8S_DIR / "overlays" / "prod"
APPLICATION = K8S_DIR / "argocd" / "application.yaml"
DEPLOY_BRANCH = "deploy/production"
DIGEST = "sha256:" + "0123456789abcdef" * 4
IMAGE = f"localhost:5000/acme/mlship-api@{DIGEST}"
RECORD = {
    "--model-version": "3",
    "--git-sha": "89abcdef" * 5,
    "--bundle-sha256": "fedcba98" * 8,
}
# Application fields used here, checked against Argo CD's v1alpha1 CRD schema.
APPLICATION_SPEC = {"project", "source", "destination", "syncPolicy", "revisionHistoryLimit"}
SYNC_POLICY = {"automated", "syncOptions", "retry"}


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def test_prod_takes_each_api_image_from_its_models_deploy_record_only() -> None:
    overlay = load(PROD / "kustomization.yaml")
    assert overlay["components"] == ["release"]
    assert "mlship-api" not in {image["name"] for image in overlay.get("images", [])}
    index = load(PROD / "release" / "kustomization.yaml")
    assert index["kind"] == "Component"
    assert sorted(index["components"]) == sorted(model for model, _ in MODELS)
    for model, _ in MODELS:
        record = load(PROD / "release" / model / "kustomization.yaml")
        assert record["kind"] == "Component"
        assert "images" not in record, "an images: entry would rename every model's image"


@pytest.mark.parametrize(("model", "deployment"), MODELS)
def test_api_image_ref_is_the_image_the_api_runs(
    rendered: dict[str, list[Manifest]], model: str, deployment: str
) -> None:
    container = main_container(rendered["prod"], deployment)
    assert {"name": "API_IMAGE_REF", "value": container["image"]} in container["env"]
    template = named(rendered["prod"], "Deployment", deployment)["spec"]["template"]
    assert template["metadata"]["annotations"]["mlship.dev/model-name"] == model


def test_rendered_prod_overlay_runs_what_a_written_record_pins(
    kubectl: str, tmp_path: Path
) -> None:
    tree = tmp_path / "platform" / "k8s"
    shutil.copytree(K8S_DIR, tree)
    shutil.copytree(OBSERVABILITY_DIR, tmp_path / "observability")
    delivered, untouched = MODELS[-1], MODELS[0]
    record = tree / f"overlays/prod/release/{delivered[0]}/kustomization.yaml"
    options = [item for pair in (RECORD | {"--model-name": delivered[0]}).items() for item in pair]
    command = [venv_bin("python"), str(SCRIPT), "write", "--record", str(record)]
    completed = subprocess.run(
        [*command, "--image", IMAGE, *options],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    manifests = render(kubectl, "prod", tree)
    container = main_container(manifests, delivered[1])
    assert container["image"] == IMAGE
    assert {"name": "API_IMAGE_REF", "value": IMAGE} in container["env"]
    # The model baked into the pinned image, not the registry's moving alias.
    uri = [v["value"] for v in container["env"] if v["name"] == "API_MODEL_URI"]
    assert uri == ["/opt/mlship/model"]
    assert "API_KEYS" in {variable["name"] for variable in container["env"]}  # the base's stay
    template = named(manifests, "Deployment", delivered[1])["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    for option, value in (RECORD | {"--model-name": delivered[0]}).items():
        assert annotations[f"mlship.dev/{option.removeprefix('--')}"] == value
    # Another model's API still runs what its own record says (here: the bootstrap).
    other = main_container(manifests, untouched[1])
    assert other["image"] == "mlship-api:bootstrap"
    other_uri = [v["value"] for v in other["env"] if v["name"] == "API_MODEL_URI"]
    assert other_uri == [f"models:/{untouched[0]}@production"]
    assert annotations["prometheus.io/scrape"] == "true"  # the base's annotations stay
    assert main_container(manifests, "mlflow")["image"] == "mlship-mlflow:3.17.2"
    for document in manifests:
        if document["apiVersion"] != "monitoring.coreos.com/v1":
            kubernetes_validate.validate(document, "1.37.0", strict=True)


def test_argocd_follows_the_prod_overlay_on_the_deploy_branch(
    rendered: dict[str, list[Manifest]],
) -> None:
    application = load(APPLICATION)
    assert (application["apiVersion"], application["kind"]) == (
        "argoproj.io/v1alpha1",
        "Application",
    )
    assert application["metadata"]["namespace"] == "argocd"
    spec = application["spec"]
    assert set(spec) <= APPLICATION_SPEC
    assert spec["project"] == "default"
    source = spec["source"]
    assert (REPO_ROOT / source["path"] / "kustomization.yaml").is_file()
    assert REPO_ROOT / source["path"] == PROD
    assert source["targetRevision"] == DEPLOY_BRANCH
    # The user's repository: set when the Application is created (README.md), never guessed.
    assert "repoURL" not in source
    namespace = spec["destination"]["namespace"]
    named(rendered["prod"], "Namespace", namespace)
    assert spec["destination"]["server"] == "https://kubernetes.default.svc"
    policy = spec["syncPolicy"]
    assert set(policy) <= SYNC_POLICY
    assert policy["automated"] == {"prune": True, "selfHeal": True}
    # The overlay creates its namespace (Pod Security labels); server-side apply as make k8s-apply.
    assert {"CreateNamespace=false", "ServerSideApply=true"} <= set(policy["syncOptions"])


def test_readme_explains_the_record_the_branch_and_argocd() -> None:
    readme = (K8S_DIR / "README.md").read_text()
    for needle in (
        "overlays/prod/release/<model name>/kustomization.yaml",
        ".github/scripts/deploy_record.py",
        DEPLOY_BRANCH,
        "kustomize.buildOptions: --load-restrictor LoadRestrictionsNone",
        "--repo",
        "git revert",
        "no delivery recorded yet",
    ):
        assert needle in readme, needle
