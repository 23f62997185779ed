"""A throwaway git repository holding a copy of the work tree, for act to run in.

act needs a git repository and copies the work tree (less ignored files) before
each job; the tests may not commit to the real one. So the tracked and untracked,
not ignored, files are copied into a temporary directory that gets its own
`git init` and commit. Its `.venv` is a shim that links to the running
virtualenv, so that `make act-*` there installs nothing on this machine; act
leaves it out of the job containers (it is ignored), where each job installs
its own, as on a runner.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.support.components import missing

ROOT = Path(__file__).resolve().parents[2]
# Only these entries are linked from the real venv; the stamp file is the shim's own.
VENV_ENTRIES = ("bin", "include", "lib", "lib64", "pyvenv.cfg")


def running_venv() -> Path:
    prefix = Path(sys.prefix)
    if not (prefix / "pyvenv.cfg").exists():
        missing("the project's virtualenv", "run the tests with .venv/bin/python (make install)")
    return prefix


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    )
    return result.stdout


def copy_work_tree(destination: Path, source: Path = ROOT) -> str:
    """Copy the work tree into a new repository at ``destination``; returns its HEAD SHA."""
    listed = _git(source, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    destination.mkdir(parents=True, exist_ok=True)
    for name in filter(None, listed.split("\0")):
        origin = source / name
        if not origin.is_file():  # deleted in the work tree but still in the index
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, target, follow_symlinks=False)
    _git(destination, "init", "-q", "-b", "main")
    sha = commit_all(destination, "work tree under test")
    link_venv(destination / ".venv", running_venv())
    return sha


def clone_repo(source: Path, destination: Path) -> Path:
    """A clone of a throwaway repository (shared history, as a second branch would have)."""
    subprocess.run(
        ["git", "clone", "-q", str(source), str(destination)], check=True, capture_output=True
    )
    link_venv(destination / ".venv", running_venv())
    return destination


def link_venv(shim: Path, venv: Path) -> None:
    shim.mkdir()
    for entry in VENV_ENTRIES:
        if (venv / entry).exists():
            (shim / entry).symlink_to(venv / entry)
    # Newer than every copied requirement file: `make install` has nothing to do.
    (shim / ".installed").touch()


@dataclass(frozen=True)
class ActRun:
    returncode: int
    output: str
    seconds: float


def run_make(
    repo: Path, *arguments: str, log: Path, timeout: float = 900, env: dict[str, str] | None = None
) -> ActRun:
    """``make ARGUMENTS`` in ``repo``; output goes to ``log`` (kept for failures) and back."""
    environment = {**os.environ, **(env or {})}
    # The tests' own make variables must not leak into the workflow's make calls.
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        environment.pop(name, None)
    started = time.monotonic()
    with log.open("w") as stream:
        result = subprocess.run(
            ["make", "--no-print-directory", *arguments],
            cwd=repo,
            env=environment,
            stdout=stream,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    return ActRun(result.returncode, log.read_text(errors="replace"), time.monotonic() - started)


def keep_only_jobs(workflow: Path, keep: set[str]) -> None:
    """Rewrite ``workflow`` with only the jobs in ``keep`` (and no `needs` on the others).

    The kept jobs stay exactly as defined; the file is written as JSON, which
    act and GitHub read as YAML. PyYAML reads the key `on` as True: it is restored.
    """
    document = yaml.safe_load(workflow.read_text(encoding="utf-8"))
    if True in document:
        document["on"] = document.pop(True)
    jobs = document["jobs"]
    unknown = keep - set(jobs)
    assert not unknown, f"{workflow.name} has no job {sorted(unknown)}"
    document["jobs"] = {name: job for name, job in jobs.items() if name in keep}
    for job in document["jobs"].values():
        needs = job.get("needs")
        if needs is not None:
            remaining = [
                need for need in ([needs] if isinstance(needs, str) else needs) if need in keep
            ]
            if remaining:
                job["needs"] = remaining
            else:
                del job["needs"]
    workflow.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def commit_all(repo: Path, message: str) -> str:
    """Commit every change in the throwaway repository; returns the new HEAD SHA."""
    _git(repo, "add", "-A")
    identity = ["-c", "user.name=mlship tests", "-c", "user.email=tests@mlship.invalid"]
    _git(repo, *identity, "commit", "-q", "--no-verify", "-m", message)
    return _git(repo, "rev-parse", "HEAD").strip()
