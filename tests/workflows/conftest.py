"""Fixtures for running the workflows with act: throwaway repositories and the local production."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.components import free_port, missing
from tests.workflows.act_production import ActProduction
from tests.workflows.act_repo import copy_work_tree


@dataclass(frozen=True)
class Repo:
    path: Path
    sha: str


@pytest.fixture(scope="session")
def new_repo(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Repo]:
    """Factory: a fresh repository with a copy of the work tree."""

    def factory(name: str) -> Repo:
        path = tmp_path_factory.mktemp(name)
        return Repo(path, copy_work_tree(path))

    return factory


@pytest.fixture(scope="session")
def act_production(
    docker_engine: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ActProduction]:
    """The local production of make act-up, on free ports, for the whole session."""
    registry_image = os.environ.get("REGISTRY_IMAGE", "registry:2.8.3")
    probe = subprocess.run(
        ["docker", "image", "inspect", registry_image], capture_output=True, check=False
    )
    if probe.returncode != 0:
        missing(f"OCI registry image {registry_image}", "pull it or set REGISTRY_IMAGE")
    production = ActProduction(
        tmp_path_factory.mktemp("act-production") / "state",
        mlflow_port=free_port(),
        registry_port=free_port(),
    )
    started = production.script("up")
    assert started.returncode == 0, started.stdout + started.stderr
    yield production
    stopped = production.script("down")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr


@pytest.fixture(scope="session")
def docker_engine() -> None:
    if shutil.which("docker") is None:
        missing("Docker engine", "install Docker (or run ../shared/docker-offline/setup)")
    probe = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=60)
    if probe.returncode != 0:
        missing("Docker engine", "docker info fails: start the engine")
