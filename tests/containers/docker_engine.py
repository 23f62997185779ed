"""The Docker engine and the project's images, built once per test session.

Images are built with the ``docker`` CLI from the repository root, on the base
images named by ``PYTHON_IMAGE``, ``POSTGRES_IMAGE`` and ``PROMETHEUS_IMAGE``
(``../shared/docker-offline/setup`` provides local ones). Tags are unique per
test session and removed at its end; the layers stay cached, so the next
session rebuilds only what changed.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.components import missing

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
SESSION = uuid.uuid4().hex[:8]
DEFAULT_BASES = {
    "PYTHON_IMAGE": "python:3.11.14-slim-bookworm",
    "POSTGRES_IMAGE": "postgres:15.14-bookworm",
    "PROMETHEUS_IMAGE": "prom/prometheus:v2.55.1",
}
BUILD_TIMEOUT_SECONDS = 1200


@dataclass(frozen=True)
class ProjectImages:
    """Tags of the images built from ``platform/`` in this session."""

    api: str
    mlflow: str
    trainer: str

    def environment(self) -> dict[str, str]:
        """The variables the compose files read the project's images from."""
        return {"API_IMAGE": self.api, "MLFLOW_IMAGE": self.mlflow, "TRAINER_IMAGE": self.trainer}


@functools.cache
def base_image(variable: str) -> str:
    """The base image ``variable`` names (or its pinned default), pulled when absent:
    a runner starts with an empty image store, so nothing is assumed present."""
    import docker  # noqa: PLC0415

    name = os.environ.get(variable) or DEFAULT_BASES[variable]
    client = engine()
    try:
        client.images.get(name)
    except docker.errors.ImageNotFound:
        pulled = subprocess.run(
            ["docker", "pull", "--quiet", name], capture_output=True, text=True, check=False
        )
        if pulled.returncode != 0:
            missing(f"base image {name}", f"docker pull failed: {pulled.stderr.strip()[-300:]}")
    return name


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


@functools.cache
def engine() -> Any:
    """A connected docker SDK client, or ``missing()`` when there is no engine."""
    if shutil.which("docker") is None:
        missing("Docker", "no docker CLI on PATH (run ../shared/docker-offline/setup)")
    import docker  # noqa: PLC0415

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as error:
        missing("Docker engine", f"cannot reach it: {error}")
    compose = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if compose.returncode != 0:
        missing("Docker Compose v2", "`docker compose version` failed (install the plugin)")
    return client


def build(
    dockerfile: str,
    tag: str,
    *,
    build_args: dict[str, str] | None = None,
    network: str | None = None,
) -> str:
    """``docker build`` from the repository root; fails the test with the build's output."""
    engine()
    command = ["docker", "build", "-f", dockerfile, "-t", tag]
    arguments = {"PYTHON_IMAGE": base_image("PYTHON_IMAGE"), **(build_args or {})}
    for key, value in arguments.items():
        command += ["--build-arg", f"{key}={value}"]
    if network is not None:
        command += ["--network", network]
    command.append(str(REPOSITORY_ROOT))
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_SECONDS, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"docker build -f {dockerfile} failed:\n{_tail(result.stdout + result.stderr)}",
            pytrace=False,
        )
    return tag


@functools.cache
def project_images() -> ProjectImages:
    """Build the API (no model baked in), MLflow and trainer images once per session."""
    return ProjectImages(
        api=build("platform/api/Dockerfile", f"mlship-test/api:{SESSION}"),
        mlflow=build("platform/mlflow/Dockerfile", f"mlship-test/mlflow:{SESSION}"),
        trainer=build("platform/trainer/Dockerfile", f"mlship-test/trainer:{SESSION}"),
    )


def remove_image(tag: str) -> None:
    """Untag ``tag`` (layers stay cached for the next build); a missing tag is fine."""
    import docker  # noqa: PLC0415

    with contextlib.suppress(docker.errors.ImageNotFound):
        engine().images.remove(tag, noprune=True)


def remove_project_images() -> None:
    if project_images.cache_info().currsize == 0:
        return
    for tag in (f"mlship-test/{name}:{SESSION}" for name in ("api", "mlflow", "trainer")):
        remove_image(tag)
    project_images.cache_clear()
