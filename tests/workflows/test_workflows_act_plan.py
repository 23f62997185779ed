"""act's own view of the workflows: its parser lists every job with its events,
validates every file, and plans each event offline (a dry run)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.components import venv_bin
from tests.workflows.act_repo import ROOT
from tests.workflows.test_workflows_static import load_workflow as _load

pytestmark = pytest.mark.workflow


def test_act_lists_every_job_with_its_events() -> None:
    result = subprocess.run(
        [venv_bin("act"), "--list"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    rows = {line.split()[1]: line for line in result.stdout.splitlines()[1:] if line.strip()}
    expected = {
        "lint": "pull_request",
        "unit": "pull_request",
        "models": "pull_request",
        "train": "pull_request",
        "merged-models": "push",
        "deliver": "push",
        "mlflow-server": "workflow_dispatch",
        "rollback": "workflow_dispatch",
    }
    assert set(rows) == set(expected)
    for job, event in expected.items():
        assert event in rows[job], rows[job]


def test_act_validates_every_workflow() -> None:
    result = subprocess.run(
        [venv_bin("act"), "--validate"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.parametrize(
    ("event", "workflow"),
    [
        ("pull_request", "pr.yml"),
        ("push", "main.yml"),
        ("workflow_dispatch", "rollback.yml"),
        ("workflow_dispatch", "platform-images.yml"),
    ],
)
@pytest.mark.usefixtures("docker_engine")  # act's dry run asks the Docker socket for its host
def test_act_plans_each_event(event: str, workflow: str, tmp_path: Path) -> None:
    """act's dry run resolves jobs, needs, expressions and local actions offline.

    In container mode with an image that is never pulled (a dry run with the
    self-hosted platform would execute the steps), and without `services:` (act
    0.2.89 panics on them in a dry run; the real runs in test_workflows_act.py
    start them). A dry run executes no step, so the job listing the models a
    change touches outputs nothing: the matrices get the declared models instead
    (the real runs compute them)."""
    document = _load(ROOT / ".github/workflows" / workflow)
    models = [spec["name"] for spec in _declared_models()]
    for job in document["jobs"].values():
        job.pop("services", None)
        matrix = job.get("strategy", {}).get("matrix", {})
        needed = re.search(r"fromJSON\(needs\.([\w-]+)\.outputs", str(matrix.get("model", "")))
        if needed:
            matrix["model"] = models
            guard = f"needs.{needed.group(1)}.outputs.models != '[]'"
            job["if"] = job["if"].replace(f" && {guard}", "").replace(guard, "true")
    planned = tmp_path / workflow
    planned.write_text(json.dumps(document))
    result = subprocess.run(
        [
            venv_bin("act"),
            event,
            "--dryrun",
            "-P",
            "ubuntu-24.04=mlship/act-dry-run:never-pulled",
            "-W",
            str(planned),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    jobs = {job.get("name", job_id) for job_id, job in document["jobs"].items()}
    names = {
        name.replace("${{ matrix.model }}", model)
        for name in jobs
        for model in (models if "matrix.model" in name else [""])
    }
    for name in names:
        assert any(
            name in line and "Job succeeded" in line for line in result.stdout.splitlines()
        ), name


def _declared_models() -> list[dict[str, Any]]:
    listed = subprocess.run(
        [venv_bin("mlship"), "models", "--json"], capture_output=True, text=True, check=True
    )
    models: list[dict[str, Any]] = json.loads(listed.stdout)
    return models
