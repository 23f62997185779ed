"""The GitOps lifecycle run for real by act in container mode (a runner image with
only the tools GitHub's image documents; act starting the PostgreSQL service, a
step starting the MLflow server built from the checkout, each run on ports of its
own, as each GitHub job has its own machine), delivering to one local production
(`make act-up`: persistent registry, OCI registry, deploy branch, artifact store):

two pull requests each train, gate and publish only their own version; merging
each delivers exactly its artifact (same digests), pushes the image by digest and
records it on the deploy branch; rollback reverts the record and the aliases
together; a gate that cannot pass publishes nothing; a tampered artifact stops
delivery before anything moves.

The pull-request runs keep only the `train` job: `lint` and `unit` run the same
make targets as `make lint` and `make test-unit` (see test_workflows_static.py).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.components import free_port
from tests.workflows.act_production import ActProduction
from tests.workflows.act_repo import ActRun, clone_repo, commit_all, keep_only_jobs, run_make
from tests.workflows.conftest import Repo

pytestmark = [pytest.mark.workflow, pytest.mark.slow, pytest.mark.usefixtures("docker_engine")]

MODEL_NAME = "IrisClassifier"


def _act_containers() -> set[str]:
    listed = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "name=^act-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(listed.stdout.split())


def _act(repo: Path, target: str, production: ActProduction, log: Path, *flags: str) -> ActRun:
    before = _act_containers()
    run = run_make(
        repo,
        target,
        "ACT_MODE=container",
        f"CI_POSTGRES_PORT={free_port()}",
        f"CI_MLFLOW_PORT={free_port()}",
        f"ACT_FLAGS={' '.join(flags)}",
        log=log,
        timeout=1500,
        env=production.environment(),
    )
    print(f"make {target} in {repo.name}: {run.seconds:.0f} s (log: {log})")
    # Job and service containers go with the run, whether it passed or failed.
    assert _act_containers() <= before, f"make {target} left act containers behind"
    return run


def _pull_request(repo: Repo, number: int, scratch: Path) -> Path:
    event = scratch / f"pull_request_{number}.json"
    pull = {"number": number, "head": {"sha": repo.sha}, "base": {"ref": "main"}}
    event.write_text(json.dumps({"pull_request": pull}))
    return event


def _step(run: ActRun, outcome: str, step: str) -> bool:
    return any(outcome in line and step in line for line in run.output.splitlines())


def _stored(production: ActProduction, sha: str) -> Path:
    return production.artifacts / f"model-{MODEL_NAME}-{sha}"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pr_repo(new_repo: Callable[[str], Repo], name: str) -> Repo:
    repo = new_repo(name)
    keep_only_jobs(repo.path / ".github/workflows/pr.yml", {"train"})
    return Repo(repo.path, commit_all(repo.path, "pull request: train only"))


def _deliver_and_check(repo: Repo, production: ActProduction, scratch: Path) -> str:
    """act-main for the pull request merged at ``repo``; returns the version delivered."""
    tags_before = production.image_tags()
    run = _act(repo.path, "act-main", production, scratch / f"main-{repo.sha[:8]}.log")
    assert run.returncode == 0, run.output[-6000:]
    manifest = _stored(production, repo.sha) / "manifest.json"
    aliases = production.aliases(MODEL_NAME)
    version = aliases["production"]
    tags = production.version_tags(MODEL_NAME, version)
    # Exactly the artifact the pull request published: its manifest's digest and lineage.
    assert tags["bundle_sha256"] == _digest(manifest)
    assert tags["git_sha"] == repo.sha
    record = production.record(scratch)
    assert record["model_version"] == version
    assert record["bundle_sha256"] == _digest(manifest)
    assert production.image_tags() == sorted({*tags_before, repo.sha})
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
    assert _step(run, "Success", "Smoke-test the image"), run.output[-3000:]
    return version


def test_two_pull_requests_deliver_their_own_artifacts_and_rollback_reverts_both(
    new_repo: Callable[[str], Repo],
    act_production: ActProduction,
    tmp_path: Path,
) -> None:
    # The production registry is authenticated: nobody reads it anonymously.
    assert act_production.refuses_anonymous_reads()
    first = _pr_repo(new_repo, "pr-first")
    second_path = clone_repo(first.path, tmp_path / "pr-second")
    (second_path / "model/README.md").write_text(
        (second_path / "model/README.md").read_text() + "\nA second pull request.\n"
    )
    second = Repo(second_path, commit_all(second_path, "a second pull request"))

    # Each run trains into a throwaway registry of its own, as each GitHub job has its own
    # machine (two act runs of one job cannot overlap: act names containers by job).
    # test_delivery_steps.py gates concurrent trainings on one shared registry.
    for repo, number in ((first, 1), (second, 2)):
        event = _pull_request(repo, number, tmp_path)
        run = _act(
            repo.path, "act-pr", act_production, tmp_path / f"pr-{number}.log", "-e", str(event)
        )
        assert run.returncode == 0, run.output[-6000:]
    for repo, number in ((first, 1), (second, 2)):
        bundle = _stored(act_production, repo.sha)
        manifest = json.loads((bundle / "manifest.json").read_text())
        gate = json.loads((bundle / "gate_report.json").read_text())
        # Each run gated the version it trained, by number, and packaged that version.
        assert manifest["git_sha"] == repo.sha
        assert manifest["pr"] == str(number)
        assert gate["version"] == manifest["source_version"]
        assert gate["passed"] is True

    delivered_first = _deliver_and_check(first, act_production, tmp_path)
    first_record = act_production.record(tmp_path)
    delivered_second = _deliver_and_check(second, act_production, tmp_path)
    assert act_production.aliases(MODEL_NAME) == {
        "production": delivered_second,
        "previous": delivered_first,
    }

    rollback = _act(second.path, "act-rollback", act_production, tmp_path / "rb.log")

    assert rollback.returncode == 0, rollback.output[-6000:]
    assert (
        act_production.deploy_log()[0]
        == f'Revert "deploy: {MODEL_NAME} version {delivered_second}"'
    )
    assert act_production.record(tmp_path) == first_record
    aliases = act_production.aliases(MODEL_NAME)
    assert (aliases["production"], aliases["previous"]) == (delivered_first, delivered_second)


def _unreachable(spec: Path) -> None:
    """Raise the model's accuracy threshold beyond any real model: the PR under test."""
    with spec.open("a", encoding="utf-8") as file:
        file.write("\n[gate.metrics.accuracy]  # unreachable on purpose\nthreshold = 2.0\n")


def test_a_pull_request_whose_gate_fails_publishes_nothing(
    new_repo: Callable[[str], Repo],
    act_production: ActProduction,
    tmp_path: Path,
) -> None:
    repo = _pr_repo(new_repo, "pr-fail")
    _unreachable(repo.path / "model/models/iris.toml")
    sha = commit_all(repo.path, "pull request: unreachable thresholds")

    run = _act(repo.path, "act-pr", act_production, tmp_path / "act.log")

    assert run.returncode != 0, "the pull-request check passed with an unreachable gate"
    assert _step(run, "Success", "Main Train"), run.output[-5000:]
    assert _step(run, "Failure", "Main Gate the version just trained"), run.output[-5000:]
    assert not _stored(act_production, sha).exists()
    # The report still reaches the job summary, naming the commit and the failure.
    assert f"Reports on commit `{sha}`." in run.output
    assert "### Gate FAILED" in run.output


def test_a_tampered_artifact_stops_delivery_before_anything_moves(
    new_repo: Callable[[str], Repo],
    act_production: ActProduction,
    tmp_path: Path,
) -> None:
    repo = _pr_repo(new_repo, "pr-tampered")
    run = _act(
        repo.path,
        "act-pr",
        act_production,
        tmp_path / "pr.log",
        "-e",
        str(_pull_request(repo, 3, tmp_path)),
    )
    assert run.returncode == 0, run.output[-6000:]
    (_stored(act_production, repo.sha) / "model/MLmodel").write_text("tampered\n")
    aliases, tags, log = (
        act_production.aliases(MODEL_NAME),
        act_production.image_tags(),
        act_production.deploy_log(),
    )

    delivered = _act(repo.path, "act-main", act_production, tmp_path / "main.log")

    assert delivered.returncode != 0, "delivery went on with a tampered artifact"
    assert "model/MLmodel changed" in delivered.output
    assert _step(delivered, "Failure", "Verify the bundle's digests and lineage")
    assert act_production.aliases(MODEL_NAME) == aliases
    assert act_production.image_tags() == tags
    assert act_production.deploy_log() == log
