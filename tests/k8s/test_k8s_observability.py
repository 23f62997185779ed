"""The rules and dashboards ConfigMaps are generated from observability/, file
for file and byte for byte: adding a rules file or a dashboard there without
listing it in platform/k8s/base/kustomization.yaml fails here."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.k8s.manifests import K8S_DIR, OBSERVABILITY_DIR, OVERLAYS, Manifest, named

pytestmark = pytest.mark.integration

# ConfigMaps are capped at 1 MiB by the API server.
CONFIGMAP_LIMIT_BYTES = 1024 * 1024
SOURCES = {
    "mlship-prometheus-rules": ("prometheus/rules", ("*.yml", "*.yaml")),
    "mlship-grafana-dashboards": ("grafana/dashboards", ("*.json",)),
}


def source_files(name: str) -> dict[str, str]:
    folder, patterns = SOURCES[name]
    files: list[Path] = []
    for pattern in patterns:
        files.extend((OBSERVABILITY_DIR / folder).glob(pattern))
    return {file.name: file.read_text() for file in sorted(files)}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_configmap_holds_every_observability_file(manifests: list[Manifest], name: str) -> None:
    config = named(manifests, "ConfigMap", name)
    data: dict[str, str] = config.get("data") or {}
    expected = source_files(name)
    missing_files = sorted(set(expected) - set(data))
    assert not missing_files, (
        f"{name} misses {missing_files}: list them in platform/k8s/base/kustomization.yaml"
    )
    assert set(data) == set(expected), f"{name} holds files observability/ does not have"
    for file, text in expected.items():
        assert data[file] == text, f"{name}/{file} differs from observability/"


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_configmap_fits_the_size_limit(manifests: list[Manifest], name: str) -> None:
    data = named(manifests, "ConfigMap", name).get("data") or {}
    size = sum(len(key) + len(value.encode()) for key, value in data.items())
    assert size < CONFIGMAP_LIMIT_BYTES


def test_grafana_sidecar_finds_the_dashboards(manifests: list[Manifest]) -> None:
    labels = named(manifests, "ConfigMap", "mlship-grafana-dashboards")["metadata"]["labels"]
    assert labels["grafana_dashboard"] == "1"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_default_load_restrictor_refuses_the_observability_files(
    kubectl: str, overlay: str
) -> None:
    # Why the README renders with the restrictor off instead of `kubectl apply -k`.
    completed = subprocess.run(
        [kubectl, "kustomize", str(K8S_DIR / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode != 0
    assert "is not in or below" in completed.stderr
