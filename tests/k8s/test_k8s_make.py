"""`make k8s-render` and `make k8s-validate`, the targets the README documents."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.k8s.manifests import OVERLAYS, REPO_ROOT, Manifest
from tests.support.components import missing

pytestmark = pytest.mark.integration


def make(target: str, render_dir: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("make")
    if tool is None:
        missing("make", "install GNU make")
    return subprocess.run(
        # -o: the venv is the one running these tests; do not reinstall it.
        [tool, "-s", "-o", ".venv/.installed", target, f"K8S_RENDER_DIR={render_dir}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_render_writes_each_overlay(rendered: dict[str, list[Manifest]], tmp_path: Path) -> None:
    completed = make("k8s-render", tmp_path)
    assert completed.returncode == 0, completed.stderr
    for overlay in OVERLAYS:
        written = [
            doc for doc in yaml.safe_load_all((tmp_path / f"{overlay}.yaml").read_text()) if doc
        ]
        assert written == rendered[overlay]
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        f"{o}.yaml" for o in sorted(OVERLAYS)
    ]


def test_validate_passes_strictly_and_names_what_it_cannot_check(tmp_path: Path) -> None:
    completed = make("k8s-validate", tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "ERROR" not in completed.stdout
    # The ServiceMonitor CRD has no bundled schema: reported, never silently passed.
    assert "ServiceMonitor" in completed.stdout
