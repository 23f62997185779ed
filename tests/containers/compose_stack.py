"""A ``docker compose`` project of ``docker-compose.ci.yml`` under a unique name."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.containers.docker_engine import REPOSITORY_ROOT, ProjectImages, base_image
from tests.support.components import free_port

API_KEY = "ci-key"  # pragma: allowlist secret (a throwaway test key)
IDENTITIES = ("admin", "delivery", "reader")


def throwaway_passwords() -> dict[str, str]:
    return {identity: secrets.token_urlsafe(18) for identity in IDENTITIES}


@dataclass
class ComposeStack:
    images: ProjectImages
    file: str = "docker-compose.ci.yml"
    project: str = field(default_factory=lambda: f"mlship-test-{uuid.uuid4().hex[:8]}")
    api_port: int = field(default_factory=free_port)
    mlflow_port: int = field(default_factory=free_port)
    prometheus_port: int = field(default_factory=free_port)
    # The tracking server's identities (docker-compose.ci.yml's CI_MLFLOW_*_PASSWORD).
    passwords: dict[str, str] = field(default_factory=throwaway_passwords)

    def login(self, identity: str) -> tuple[str, str]:
        """Username and password of an identity (the CI file keeps the default usernames)."""
        return identity, self.passwords[identity]

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            **self.images.environment(),
            "PYTHON_IMAGE": base_image("PYTHON_IMAGE"),
            "POSTGRES_IMAGE": base_image("POSTGRES_IMAGE"),
            "PROMETHEUS_IMAGE": base_image("PROMETHEUS_IMAGE"),
            "COMPOSE_PROJECT_NAME": self.project,
            "API_HOST_PORT": str(self.api_port),
            "MLFLOW_HOST_PORT": str(self.mlflow_port),
            "PROMETHEUS_HOST_PORT": str(self.prometheus_port),
            "CI_API_KEYS": API_KEY,
            "API_RELOAD_INTERVAL_SECONDS": "2",
            **{
                f"CI_MLFLOW_{identity.upper()}_PASSWORD": password
                for identity, password in self.passwords.items()
            },
        }

    def compose(self, *arguments: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run ``docker compose``; a failure fails the test with its output and the logs."""
        command = ["docker", "compose", "-p", self.project, "-f", self.file, *arguments]
        result = subprocess.run(
            command,
            cwd=REPOSITORY_ROOT,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(
                f"{' '.join(command)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}{result.stderr[-3000:]}\n--- logs ---\n{self.logs()}",
                pytrace=False,
            )
        return result

    def logs(self) -> str:
        result = subprocess.run(
            ["docker", "compose", "-p", self.project, "-f", self.file, "logs", "--tail", "40"],
            cwd=REPOSITORY_ROOT,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return (result.stdout + result.stderr)[-8000:]

    def container(self, service: str) -> dict[str, Any]:
        """``docker inspect`` of the service's (single) container."""
        identifier = self.compose("ps", "--all", "--quiet", service).stdout.split()[0]
        inspected = subprocess.run(
            ["docker", "inspect", identifier], capture_output=True, text=True, check=True
        )
        document: dict[str, Any] = json.loads(inspected.stdout)[0]
        return document

    def leftovers(self) -> dict[str, list[str]]:
        """Containers, networks and volumes that still carry the project's label."""
        label = f"label=com.docker.compose.project={self.project}"
        found: dict[str, list[str]] = {}
        for kind in ("container", "network", "volume"):
            listing = ["docker", kind, "ls", "--quiet", "--filter", label]
            if kind == "container":
                listing.insert(3, "--all")
            output = subprocess.run(listing, capture_output=True, text=True, check=True).stdout
            found[kind] = output.split()
        return found

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def mlflow(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def prometheus(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"


def api_client(stack: ComposeStack) -> httpx.Client:
    return httpx.Client(base_url=stack.api, headers={"X-API-Key": API_KEY}, timeout=10)


def prometheus_targets(base_url: str) -> list[tuple[str, str, str, str]]:
    """(job, scrape URL, health, last error) of every active target, for failure messages."""
    response = httpx.get(f"{base_url}/api/v1/targets", params={"state": "active"}, timeout=10)
    return [
        (
            target["labels"]["job"],
            target["scrapeUrl"],
            target["health"],
            target.get("lastError", ""),
        )
        for target in response.json()["data"]["activeTargets"]
    ]


def prometheus_target_up(base_url: str, job: str) -> bool:
    response = httpx.get(f"{base_url}/api/v1/query", params={"query": f'up{{job="{job}"}}'})
    results = response.json()["data"]["result"]
    return bool(results) and all(sample["value"][1] == "1" for sample in results)
