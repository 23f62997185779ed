"""The workflow files themselves: GitHub's schemas, act's parser, shellcheck on
every `run:` block, and the rules the project keeps (pinned actions, least
privilege, time-outs, make targets for real work, remote actions hidden from act).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.components import missing, venv_bin
from tests.workflows.act_repo import ROOT

pytestmark = pytest.mark.workflow

WORKFLOWS = sorted((ROOT / ".github/workflows").glob("*.yml"))
ACTIONS = sorted((ROOT / ".github/actions").glob("*/action.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
GUARD = re.compile(r"!\s*env\.ACT\b")


def load_workflow(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), path
    if True in document:  # YAML 1.1 reads the key `on` as a boolean
        document["on"] = document.pop(True)
    return document


def _steps(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    if "runs" in document:
        return [("runs", step) for step in document["runs"].get("steps", [])]
    return [(job_id, step) for job_id, job in document["jobs"].items() for step in job["steps"]]


def _check_jsonschema(schema: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [venv_bin("check-jsonschema"), "--builtin-schema", schema, *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_expected_workflows_exist() -> None:
    names = {path.name for path in WORKFLOWS}
    assert names == {"pr.yml", "main.yml", "platform-images.yml", "rollback.yml"}


def test_workflows_match_the_github_workflow_schema() -> None:
    result = _check_jsonschema("vendor.github-workflows", *WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_composite_actions_match_the_github_action_schema() -> None:
    result = _check_jsonschema("vendor.github-actions", *ACTIONS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependabot_matches_its_schema_and_covers_every_ecosystem() -> None:
    path = ROOT / ".github/dependabot.yml"
    result = _check_jsonschema("vendor.dependabot", path)
    assert result.returncode == 0, result.stdout + result.stderr
    ecosystems = {update["package-ecosystem"] for update in load_workflow(path)["updates"]}
    assert {"pip", "docker", "github-actions"} <= ecosystems


def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  build:\n    steps: []\n")  # no runs-on
    assert _check_jsonschema("vendor.github-workflows", broken).returncode != 0


def _lint_run_blocks(*paths: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("shellcheck") is None:
        missing("shellcheck", "apt-get install shellcheck")
    return subprocess.run(
        [venv_bin("python"), str(ROOT / ".github/scripts/lint_run_blocks.py"), *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_every_run_block_passes_shellcheck() -> None:
    result = _lint_run_blocks(*WORKFLOWS, *ACTIONS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_run_block_check_names_the_step_that_fails(tmp_path: Path) -> None:
    workflow = tmp_path / "w.yml"
    workflow.write_text(
        "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - name: fine\n        run: echo ok\n"
        "      - name: careless\n        run: |\n"
        "          echo ${{ github.sha }}\n          cd $DIR\n"
    )
    result = _lint_run_blocks(workflow)
    assert result.returncode == 1
    assert "build / careless (line 2)" in result.stdout
    assert "SC2086" in result.stdout
    assert "fine" not in result.stdout


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_every_job_is_bounded_and_least_privileged(path: Path) -> None:
    workflow = load_workflow(path)
    assert workflow.get("permissions") == {}, "top-level permissions must be {} (jobs ask)"
    assert "concurrency" in workflow
    for job_id, job in workflow["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int), f"{job_id}: no timeout-minutes"
        assert isinstance(job.get("permissions"), dict), f"{job_id}: no permissions"
        assert "write-all" not in str(job["permissions"])


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_workflow_steps_call_make_for_real_work(path: Path) -> None:
    for job_id, step in _steps(load_workflow(path)):
        if "run" in step:
            command = step["run"].strip()
            assert command.startswith("make "), (
                f"{job_id}: run step is not a make target: {command}"
            )


@pytest.mark.parametrize(
    "path", WORKFLOWS + ACTIONS, ids=lambda path: path.parent.name + "/" + path.name
)
def test_remote_actions_are_pinned_and_hidden_from_act(path: Path) -> None:
    """act fetches every remote action of a job up front, and offline it cannot:
    workflows use only actions/checkout (which act skips) and local actions, and a
    local action holding remote ones is entered only when not under act."""
    for job_id, step in _steps(load_workflow(path)):
        uses = step.get("uses")
        if uses is None:
            continue
        if uses.startswith("./"):
            remote_inside = any(
                not inner.get("uses", "./").startswith("./")
                for _, inner in _steps(load_workflow(ROOT / uses / "action.yml"))
            )
            if remote_inside:
                assert GUARD.search(str(step.get("if", ""))), f"{job_id}: {uses} needs if: !env.ACT"
            continue
        assert PINNED.match(uses), f"{job_id}: {uses} is not pinned to a commit SHA"
        if path in WORKFLOWS:
            assert uses.startswith("actions/checkout@"), f"{job_id}: wrap {uses} in .github/actions"


def test_the_pull_request_workflow_lints_tests_then_trains_each_model_it_touches() -> None:
    jobs = load_workflow(ROOT / ".github/workflows/pr.yml")["jobs"]
    runs = {job_id: [step.get("run") for step in job["steps"]] for job_id, job in jobs.items()}
    assert "make lint" in runs["lint"]
    assert "make test-unit" in runs["unit"]
    assert runs["models"] == [None, "make ci-models"]
    assert set(jobs["train"]["needs"]) == {"lint", "unit", "models"}
    # One leg per model the change touches, each acting on its own model only.
    assert jobs["train"]["strategy"]["matrix"] == {
        "model": "${{ fromJSON(needs.models.outputs.models) }}"
    }
    assert jobs["train"]["env"]["MODEL_NAME"] == "${{ matrix.model }}"
    # An empty list would be an invalid matrix on GitHub: no leg at all instead.
    assert jobs["train"]["if"] == "${{ needs.models.outputs.models != '[]' }}"
    train = runs["train"]
    # The version just trained is gated by number, then packaged: never "latest".
    assert (
        train.index("make ci-train") < train.index("make ci-gate") < train.index("make ci-export")
    )


def test_pre_commit_uses_local_hooks_that_exist() -> None:
    config = load_workflow(ROOT / ".pre-commit-config.yaml")
    hooks = []
    for repo in config["repos"]:
        assert repo["repo"] == "local", "hooks must not clone a repository"
        hooks += repo["hooks"]
    ids = {hook["id"] for hook in hooks}
    assert {"ruff-check", "ruff-format", "mypy", "workflow-schema", "hadolint", "shellcheck"} <= ids
    assert {"promtool-rules", "check-yaml", "detect-private-key", "detect-secrets"} <= ids
    for hook in hooks:
        assert hook["language"] == "system"
        executable = hook["entry"].split()[0]
        if executable.startswith(".venv/bin/"):
            assert Path(venv_bin(executable.removeprefix(".venv/bin/"))).exists()
        elif shutil.which(executable) is None:
            missing(executable, f"pre-commit hook {hook['id']} needs it")
