"""The GitOps lifecycle run for real by act in container mode (a runner image with
only the tools GitHub's image documents; act starting the PostgreSQL service, a
step starting the MLflow server built from the checkout, each run on ports of its
own, as each GitHub job has its own machine), delivering to one local production
(`make act-up`: persistent registry, OCI registry, deploy branch, artifact store):

two pull requests each train, gate and publish only their own version; merging
each delivers exactly its artifact (same digests), pushes the image by digest and
records it on the deploy branch, for the model they changed only; rollback
reverts that model's record and aliases together; a gate that cannot pass
publishes nothing; a tampered artifact stops delivery before anything moves; a
pull request that changes only the second model's specification trains and gates
only that model.

The pull-request runs keep only the `models` and `train` jobs: `lint` and `unit`
run the same make targets as `make lint` and `make test-unit` (see
test_workflows_static.py). Each event names its base commit, as GitHub's do, so
the runs train the models their change touches (without one, every model).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.workflows.act_production import ActProduction
from tests.workflows.act_repo import clone_repo, commit_all
from tests.workflows.act_runs import (
    MODEL_NAME,
    SECOND_MODEL,
    change_spec,
    digest,
    pr_repo,
    pull_request_event,
    push_event,
    run_act,
    step_ended,
    stored,
)
from tests.workflows.conftest import Repo

pytestmark = [pytest.mark.workflow, pytest.mark.slow, pytest.mark.usefixtures("docker_engine")]


def _deliver_and_check(repo: Repo, production: ActProduction, scratch: Path, before: str) -> str:
    """act-main for the pull request merged at ``repo``; returns the version delivered."""
    tags_before = production.image_tags()
    event = push_event(repo, scratch, before)
    log = scratch / f"main-{repo.sha[:8]}.log"
    run = run_act(repo.path, "act-main", production, log, "-e", str(event))
    assert run.returncode == 0, run.output[-6000:]
    # The merge changed the first model only: the second is neither delivered nor touched.
    assert "ci-models: " + json.dumps([MODEL_NAME], separators=(",", ":")) in run.output
    assert f"deliver {SECOND_MODEL}" not in run.output
    assert production.aliases(SECOND_MODEL) == {}
    assert production.record(scratch, SECOND_MODEL)["bootstrap"] is True
    manifest = stored(production, repo.sha) / "manifest.json"
    aliases = production.aliases(MODEL_NAME)
    version = aliases["production"]
    tags = production.version_tags(MODEL_NAME, version)
    # Exactly the artifact the pull request published: its manifest's digest and lineage.
    assert tags["bundle_sha256"] == digest(manifest)
    assert tags["git_sha"] == repo.sha
    record = production.record(scratch, MODEL_NAME)
    assert record["model_version"] == version
    assert record["bundle_sha256"] == digest(manifest)
    # One repository, a tag per model and commit.
    assert production.image_tags() == sorted({*tags_before, f"{MODEL_NAME}-{repo.sha}"})
    # The digest the record names is in the registry and carries the model's provenance.
    pulled = subprocess.run(
        ["docker", "pull", record["image"]], capture_output=True, text=True, check=False
    )
    assert pulled.returncode == 0, pulled.stderr
    labels = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", record["image"]],
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(labels.stdout)
    assert found["io.mlship.model-version"] == version
    assert found["org.opencontainers.image.revision"] == repo.sha
    assert step_ended(run, "Success", "Smoke-test the image"), run.output[-3000:]
    return version


def test_two_pull_requests_deliver_their_own_artifacts_and_rollback_reverts_both(
    new_repo: Callable[[str], Repo],
    act_production: ActProduction,
    tmp_path: Path,
) -> None:
    # The production registry is authenticated: nobody reads it anonymously.
    assert act_production.refuses_anonymous_reads()
    main = pr_repo(new_repo, "pr-first")
    first = change_spec(main, "iris.toml", "a first pull request")
    second_path = clone_repo(first.path, tmp_path / "pr-second")
    second = change_spec(Repo(second_path, first.sha), "iris.toml", "a second pull request")

    # Each run trains into a throwaway registry of its own, as each GitHub job has its own
    # machine (two act runs of one job cannot overlap: act names containers by job).
    # test_delivery_steps.py gates concurrent trainings on one shared registry.
    for repo, number, base in ((first, 1, main.sha), (second, 2, first.sha)):
        event = pull_request_event(repo, number, tmp_path, base)
        run = run_act(
            repo.path, "act-pr", act_production, tmp_path / f"pr-{number}.log", "-e", str(event)
        )
        assert run.returncode == 0, run.output[-6000:]
        assert not stored(act_production, repo.sha, SECOND_MODEL).exists()
    for repo, number in ((first, 1), (second, 2)):
        bundle = stored(act_production, repo.sha)
        manifest = json.loads((bundle / "manifest.json").read_text())
        gate = json.loads((bundle / "gate_report.json").read_text())
        # Each run gated the version it trained, by number, and packaged that version.
        assert manifest["git_sha"] == repo.sha
        assert manifest["pr"] == str(number)
        assert gate["version"] == manifest["source_version"]
        assert gate["passed"] is True

    delivered_first = _deliver_and_check(first, act_production, tmp_path, main.sha)
    first_record = act_production.record(tmp_path, MODEL_NAME)
    delivered_second = _deliver_and_check(second, act_production, tmp_path, first.sha)
    assert act_production.aliases(MODEL_NAME) == {
        "production": delivered_second,
        "previous": delivered_first,
    }

    rollback = run_act(second.path, "act-rollback", act_production, tmp_path / "rb.log")

    assert rollback.returncode == 0, rollback.output[-6000:]
    assert (
        act_production.deploy_log()[0]
        == f'Revert "deploy: {MODEL_NAME} version {delivered_second}"'
    )
    assert act_production.record(tmp_path, MODEL_NAME) == first_record
    aliases = act_production.aliases(MODEL_NAME)
    assert (aliases["production"], aliases["previous"]) == (delivered_first, delivered_second)
    # The other model's record and aliases are untouched.
    assert act_production.record(tmp_path, SECOND_MODEL)["bootstrap"] is True
    assert act_production.aliases(SECOND_MODEL) == {}


def _unreachable(spec: Path) -> None:
    """Raise the model's accuracy threshold beyond any real model: the PR under test."""
    with spec.open("a", encoding="utf-8") as file:
        file.write("\n[gate.metrics.accuracy]  # unreachable on purpose\nthreshold = 2.0\n")


def test_a_pull_request_whose_gate_fails_publishes_nothing(
    new_repo: Callable[[str], Repo],
    act_production: ActProduction,
    tmp_path: Path,
) -> None:
    repo = pr_repo(new_repo, "pr-fail")
    _unreachable(repo.path / "model/models/iris.toml")
    sha = commit_all(repo.path, "pull request: unreachable thresholds")
    event = pull_request_event(Repo(repo.path, sha), 4, tmp_path, repo.sha)

    run = run_act(repo.path, "act-pr", act_production, tmp_path / "act.log", "-e", str(event))

    assert run.returncode != 0, "the pull-request check passed with an unreachable gate"
    assert step_ended(run, "Success", "Main Train"), run.output[-5000:]
    assert step_ended(run, "Failure", "Main Gate the version just trained"), run.output[-5000:]
    assert not stored(act_production, sha).exists()
    # The report still reaches the job summary, naming the commit and the failure.
    assert f"Reports on commit `{sha}`." in run.output
    assert "### Gate FAILED" in run.output


def test_a_tampered_artifact_stops_delivery_before_anything_moves(
    new_repo: Callable[[str], Repo],
    act_production: ActProduction,
    tmp_path: Path,
) -> None:
    main = pr_repo(new_repo, "pr-tampered")
    repo = change_spec(main, "iris.toml", "a pull request")
    run = run_act(
        repo.path,
        "act-pr",
        act_production,
        tmp_path / "pr.log",
        "-e",
        str(pull_request_event(repo, 3, tmp_path, main.sha)),
    )
    assert run.returncode == 0, run.output[-6000:]
    (stored(act_production, repo.sha) / "model/MLmodel").write_text("tampered\n")
    aliases, tags, log = (
        act_production.aliases(MODEL_NAME),
        act_production.image_tags(),
        act_production.deploy_log(),
    )

    push = push_event(repo, tmp_path, main.sha)
    delivered = run_act(
        repo.path, "act-main", act_production, tmp_path / "main.log", "-e", str(push)
    )

    assert delivered.returncode != 0, "delivery went on with a tampered artifact"
    assert "model/MLmodel changed" in delivered.output
    assert step_ended(delivered, "Failure", "Verify the bundle's digests and lineage")
    assert act_production.aliases(MODEL_NAME) == aliases
    assert act_production.image_tags() == tags
    assert act_production.deploy_log() == log


def test_a_change_to_the_second_models_spec_trains_and_gates_only_that_model(
    new_repo: Callable[[str], Repo],
    act_production: ActProduction,
    tmp_path: Path,
) -> None:
    """The issue's proof: `make act-pr` on a change to model/models/breast_cancer.toml."""
    main = pr_repo(new_repo, "pr-second-model")
    repo = change_spec(main, "breast_cancer.toml", "the forest's specification only")
    event = pull_request_event(repo, 5, tmp_path, main.sha)

    run = run_act(repo.path, "act-pr", act_production, tmp_path / "pr.log", "-e", str(event))

    assert run.returncode == 0, run.output[-6000:]
    assert 'ci-models: ["BreastCancerForest"]' in run.output
    assert step_ended(run, "Success", "Main Gate the version just trained")
    assert f"train and validate ({SECOND_MODEL})" in run.output
    assert f"train and validate ({MODEL_NAME})" not in run.output
    # Its own bundle, gated, keyed by the head commit; none of the first model.
    bundle = stored(act_production, repo.sha, SECOND_MODEL)
    manifest = json.loads((bundle / "manifest.json").read_text())
    gate = json.loads((bundle / "gate_report.json").read_text())
    assert (manifest["git_sha"], manifest["model_name"]) == (repo.sha, SECOND_MODEL)
    assert (gate["model_name"], gate["passed"]) == (SECOND_MODEL, True)
    assert gate["version"] == manifest["source_version"]
    assert not stored(act_production, repo.sha, MODEL_NAME).exists()
    assert f"<!-- mlship-gate-report:{SECOND_MODEL} -->" in run.output
