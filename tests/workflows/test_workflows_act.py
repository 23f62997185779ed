"""The workflows run for real by act (host mode) against PostgreSQL + MLflow from
`make ci-services-up`: a pull request trains and gates a challenger, a gate it
cannot pass fails the check without moving an alias, a push to main promotes,
builds the API image with the model baked in and smoke-tests it, and the manual
rollback swaps `production` and `previous` on a persistent registry.

The pull-request runs keep only the `train` job: `lint` and `unit` run the same
make targets as `make lint` and `make test-unit` (see test_workflows_static.py).
"""

from __future__ import annotations

import json
import subprocess
import tomllib
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from tests.workflows.act_repo import ActRun, commit_all, keep_only_jobs, run_make
from tests.workflows.conftest import CiServices, Repo

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

MODEL_NAME = "IrisClassifier"


def _aliases(client: MlflowClient) -> dict[str, str]:
    try:
        model = client.get_registered_model(MODEL_NAME)
    except MlflowException:
        return {}
    return {alias: str(version) for alias, version in model.aliases.items()}


def _versions(client: MlflowClient) -> dict[str, dict[str, str]]:
    found = client.search_model_versions(f"name = '{MODEL_NAME}'")
    return {str(version.version): dict(version.tags) for version in found}


def _act(repo: Repo, target: str, services: CiServices, log: Path, *act_flags: str) -> ActRun:
    flags = " ".join(act_flags)
    run = run_make(
        repo.path, target, *services.make_variables(), f"ACT_FLAGS={flags}", log=log, timeout=1200
    )
    print(f"make {target}: {run.seconds:.0f} s (log: {log})")
    return run


def _step(run: ActRun, outcome: str, step: str) -> bool:
    return any(outcome in line and step in line for line in run.output.splitlines())


def _in_summary(run: ActRun, heading: str) -> bool:
    """act prints the job summary's lines after the first one without its log prefix."""
    return any(line.startswith(heading) for line in run.output.splitlines())


def test_pull_request_trains_a_challenger_that_passed_the_gate(
    new_repo: Callable[[str], Repo], ci_services: CiServices, tmp_path: Path
) -> None:
    repo = new_repo("pr-pass")
    keep_only_jobs(repo.path / ".github/workflows/pr.yml", {"train"})
    sha = commit_all(repo.path, "pull request: train only")
    event = tmp_path / "pull_request.json"
    event.write_text(json.dumps({"pull_request": {"number": 42, "base": {"ref": "main"}}}))
    client = MlflowClient(ci_services.tracking_uri, registry_uri=ci_services.tracking_uri)
    before = _versions(client)

    run = _act(Repo(repo.path, sha), "act-pr", ci_services, tmp_path / "act.log", "-e", str(event))

    assert run.returncode == 0, run.output[-5000:]
    new = set(_versions(client)) - set(before)
    assert len(new) == 1, f"expected one new version, got {sorted(new)}"
    (version,) = new
    assert _aliases(client).get("challenger") == version
    tags = _versions(client)[version]
    assert tags["gate"] == "passed"
    assert tags["git_sha"] == sha
    assert tags["pr"] == "42"
    # The job summary (make ci-report) carries the verdict and the metrics.
    assert _in_summary(run, f"### Gate passed: {MODEL_NAME} version {version}"), run.output[-3000:]
    assert _in_summary(run, "| accuracy |"), run.output[-3000:]


def _unreachable(policy: Path) -> None:
    """Rewrite the gate policy so that no model can pass it: the PR under test."""
    rules = tomllib.loads(policy.read_text(encoding="utf-8"))["metric"]
    lines = ["# Unreachable on purpose: every bound is beyond any real model."]
    for rule in rules:
        bound = 2.0 if rule["direction"] == "min" else -1.0
        lines += [
            "",
            "[[metric]]",
            f'name = "{rule["name"]}"',
            f'direction = "{rule["direction"]}"',
            f"bound = {bound}",
            f"tolerance = {rule.get('tolerance', 0.0)}",
        ]
    policy.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_pull_request_fails_when_the_gate_fails_and_no_alias_moves(
    new_repo: Callable[[str], Repo], ci_services: CiServices, tmp_path: Path
) -> None:
    repo = new_repo("pr-fail")
    keep_only_jobs(repo.path / ".github/workflows/pr.yml", {"train"})
    _unreachable(repo.path / "model/src/mlship/model/gate.toml")
    sha = commit_all(repo.path, "pull request: unreachable thresholds")
    client = MlflowClient(ci_services.tracking_uri, registry_uri=ci_services.tracking_uri)
    aliases_before, versions_before = _aliases(client), _versions(client)

    run = _act(Repo(repo.path, sha), "act-pr", ci_services, tmp_path / "act.log")

    assert run.returncode != 0, "the pull-request check passed with an unreachable gate"
    assert _step(run, "Success", "Main Train"), run.output[-5000:]
    assert _step(run, "Failure", "Main Validate (the gate)"), run.output[-5000:]
    assert _aliases(client) == aliases_before
    new = set(_versions(client)) - set(versions_before)
    assert len(new) == 1, f"expected one new version, got {sorted(new)}"
    (version,) = new
    tags = _versions(client)[version]
    assert tags["gate"] == "failed"
    assert tags["git_sha"] == sha
    # The report still reaches the job summary when the gate fails.
    assert _in_summary(run, f"### Gate FAILED: {MODEL_NAME} version {version}"), run.output[-3000:]


def test_push_to_main_promotes_builds_and_smoke_tests_the_image(
    new_repo: Callable[[str], Repo],
    ci_services: CiServices,
    docker_engine: None,
    tmp_path: Path,
) -> None:
    repo = new_repo("main")
    client = MlflowClient(ci_services.tracking_uri, registry_uri=ci_services.tracking_uri)
    production_before = _aliases(client).get("production")
    versions_before = _versions(client)
    namespace = f"mlship-act-{uuid.uuid4().hex[:8]}"

    def api_images() -> list[str]:
        listed = subprocess.run(
            ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", f"{namespace}/mlship-api"],
            capture_output=True,
            text=True,
            check=True,
        )
        return listed.stdout.split()

    try:
        run = run_make(
            repo.path,
            "act-main",
            *ci_services.make_variables(),
            f"ACT_IMAGE_NAMESPACE={namespace}",
            log=tmp_path / "act.log",
            timeout=1500,
        )
        print(f"make act-main: {run.seconds:.0f} s")
        images = api_images()
    finally:
        leftovers = api_images()
        if leftovers:
            subprocess.run(
                ["docker", "rmi", "--force", *leftovers], capture_output=True, check=False
            )

    assert run.returncode == 0, run.output[-6000:]
    production = _aliases(client).get("production")
    new = set(_versions(client)) - set(versions_before)
    assert len(new) == 1, f"expected one new version, got {sorted(new)}"
    (version,) = new
    assert production == version != production_before
    assert _versions(client)[version]["git_sha"] == repo.sha
    assert sorted(images) == sorted(
        [f"{namespace}/mlship-api:{repo.sha}", f"{namespace}/mlship-api:model-v{version}"]
    )
    assert _step(run, "Success", "Main Smoke test the image with Prometheus"), run.output[-5000:]
    # Pushing needs GitHub: under act the push step is skipped, not attempted.
    assert not _step(run, "Run Main", "Push the image")


def test_manual_rollback_swaps_production_and_previous(
    new_repo: Callable[[str], Repo], ci_services: CiServices, tmp_path: Path
) -> None:
    """rollback.yml against a persistent registry (the secret, here the CI services)."""
    client = MlflowClient(ci_services.tracking_uri, registry_uri=ci_services.tracking_uri)
    name = f"Rollback_{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    experiment = client.create_experiment(name)
    for _ in range(2):
        run = client.create_run(experiment)
        client.create_model_version(
            name, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id
        )
    client.set_registered_model_alias(name, "previous", "1")
    client.set_registered_model_alias(name, "production", "2")
    repo = new_repo("rollback")

    result = run_make(
        repo.path,
        "act-rollback",
        *ci_services.make_variables(),
        f"ACT_FLAGS=--var MODEL_NAME={name}",
        "ROLLBACK_REASON=smoke-alert",
        f"ACT_REGISTRY={ci_services.tracking_uri}",
        log=tmp_path / "act.log",
        timeout=600,
    )

    assert result.returncode == 0, result.output[-5000:]
    aliases = client.get_registered_model(name).aliases
    assert (aliases["production"], aliases["previous"]) == ("1", "2")
    assert _in_summary(result, "> smoke-alert"), result.output[-3000:]
