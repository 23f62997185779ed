"""The per-model Kubernetes files are current with model/models/ (no kubectl needed:
a unit test, so the pull request's unit job fails when a specification was added
or removed without `make k8s-generate`), and generating never touches a record
that delivery wrote."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.k8s.manifests import K8S_DIR, MODELS, REPO_ROOT, run_generator

pytestmark = pytest.mark.unit


def test_the_generated_files_are_current() -> None:
    completed = run_generator(REPO_ROOT, "check")
    assert completed.returncode == 0, completed.stderr
    overlays = "".join(
        (K8S_DIR / "overlays" / overlay / "kustomization.yaml").read_text()
        for overlay in ("dev", "prod")
    )
    for model, _ in MODELS:  # the overlays name no model: the generated files do
        assert model not in overlays


def test_generate_never_replaces_a_delivered_record(tmp_path: Path) -> None:
    shutil.copytree(REPO_ROOT / "model/models", tmp_path / "model/models")
    shutil.copytree(K8S_DIR, tmp_path / "platform/k8s")
    record = tmp_path / "platform/k8s/overlays/prod/release/IrisClassifier/kustomization.yaml"
    delivered = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / ".github/scripts/deploy_record.py"),
            "write",
            "--record",
            str(record),
            "--image",
            "registry.example/mlship-api@sha256:" + "ab" * 32,
            "--model-name",
            "IrisClassifier",
            "--model-version",
            "4",
            "--git-sha",
            "cd" * 20,
            "--bundle-sha256",
            "ef" * 32,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert delivered.returncode == 0, delivered.stderr
    before = record.read_bytes()
    assert run_generator(tmp_path, "generate").returncode == 0
    assert run_generator(tmp_path, "check").returncode == 0  # the deploy branch checks too
    assert record.read_bytes() == before
