"""Fixtures for running the workflows with act: throwaway repositories and the CI services."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.components import free_port, missing, venv_bin
from tests.workflows.act_production import ActProduction
from tests.workflows.act_repo import copy_work_tree, run_make


@dataclass(frozen=True)
class CiServices:
    """PostgreSQL and MLflow started by `make ci-services-up` on free ports."""

    postgres_port: int
    mlflow_port: int

    @property
    def tracking_uri(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    def make_variables(self) -> list[str]:
        return [
            f"CI_POSTGRES_PORT={self.postgres_port}",
            f"CI_MLFLOW_PORT={self.mlflow_port}",
            "ACT_SERVICES=external",
        ]


@dataclass(frozen=True)
class Repo:
    path: Path
    sha: str


@pytest.fixture(scope="session")
def act_bin() -> str:
    return venv_bin("act")


@pytest.fixture(scope="session")
def new_repo(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Repo]:
    """Factory: a fresh repository with a copy of the work tree."""

    def factory(name: str) -> Repo:
        path = tmp_path_factory.mktemp(name)
        return Repo(path, copy_work_tree(path))

    return factory


@pytest.fixture(scope="session")
def ci_services(
    act_bin: str, new_repo: Callable[[str], Repo], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CiServices]:
    if shutil.which("curl") is None:
        missing("curl", "apt-get install curl (ci-wait-mlflow polls with it)")
    services = CiServices(postgres_port=free_port(), mlflow_port=free_port())
    repo = new_repo("services")
    logs = tmp_path_factory.mktemp("services-logs")
    started = run_make(
        repo.path, "ci-services-up", *services.make_variables(), log=logs / "up.log", timeout=300
    )
    assert started.returncode == 0, started.output[-3000:]
    yield services
    run_make(repo.path, "ci-services-down", *services.make_variables(), log=logs / "down.log")


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
        postgres_port=free_port(),
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
