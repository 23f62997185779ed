"""Running the workflows with act for the tests: `make act-*` in a throwaway
repository against the local production, the events GitHub would send, and what
the runs leave (their log, the artifact store)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.support.components import free_port
from tests.workflows.act_production import ActProduction
from tests.workflows.act_repo import ActRun, commit_all, keep_only_jobs, run_make
from tests.workflows.conftest import Repo

MODEL_NAME = "IrisClassifier"
SECOND_MODEL = "BreastCancerForest"


def act_containers() -> set[str]:
    listed = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "name=^act-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(listed.stdout.split())


def run_act(repo: Path, target: str, production: ActProduction, log: Path, *flags: str) -> ActRun:
    before = act_containers()
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
    assert act_containers() <= before, f"make {target} left act containers behind"
    return run


def pull_request_event(repo: Repo, number: int, scratch: Path, base: str) -> Path:
    """The pull_request event GitHub sends: head and base commits."""
    event = scratch / f"pull_request_{number}.json"
    pull = {"number": number, "head": {"sha": repo.sha}, "base": {"ref": "main", "sha": base}}
    event.write_text(json.dumps({"pull_request": pull}))
    return event


def push_event(repo: Repo, scratch: Path, before: str) -> Path:
    """The push event of merging ``repo``'s head into main, which pointed at ``before``."""
    event = scratch / f"push_{repo.sha[:8]}.json"
    push = {"ref": "refs/heads/main", "before": before, "after": repo.sha}
    event.write_text(json.dumps(push))
    return event


def step_ended(run: ActRun, outcome: str, step: str) -> bool:
    return any(outcome in line and step in line for line in run.output.splitlines())


def stored(production: ActProduction, sha: str, model: str = MODEL_NAME) -> Path:
    return production.artifacts / f"model-{model}-{sha}"


def change_spec(repo: Repo, spec: str, message: str) -> Repo:
    """A commit on ``repo`` that changes only the specification ``spec`` (a comment)."""
    path = repo.path / "model/models" / spec
    path.write_text(path.read_text() + f"\n# {message}\n")
    return Repo(repo.path, commit_all(repo.path, message))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pr_repo(new_repo: Callable[[str], Repo], name: str) -> Repo:
    repo = new_repo(name)
    keep_only_jobs(repo.path / ".github/workflows/pr.yml", {"models", "train"})
    return Repo(repo.path, commit_all(repo.path, "pull request: train only"))
