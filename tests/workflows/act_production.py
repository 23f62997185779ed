"""The local production the act runs deliver to (make act-up), and what the tests read of it.

A persistent, authenticated registry (PostgreSQL + the MLflow server image), a
local OCI registry standing in for GitHub's container registry, a bare git
repository holding the deploy branch and a directory standing in for GitHub's
artifact storage, on free ports and in a temporary directory, started by the
project's own `act-production.sh`. The tests read the registry over its REST API
as its admin (MLflow's client would take credentials from the process environment).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.workflows.act_repo import ROOT

SCRIPTS = ROOT / ".github/scripts"
RELEASE = "platform/k8s/overlays/prod/release"
BRANCH = "deploy/production"


@dataclass(frozen=True)
class ActProduction:
    directory: Path
    mlflow_port: int
    registry_port: int

    @property
    def tracking_uri(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def artifacts(self) -> Path:
        return self.directory / "artifacts"

    @property
    def deploy_remote(self) -> Path:
        return self.directory / "deploy.git"

    def environment(self) -> dict[str, str]:
        """What make act-* needs to find this production (act-production.sh reads it)."""
        return {
            "ACT_PROD_DIR": str(self.directory),
            "ACT_PROD_MLFLOW_PORT": str(self.mlflow_port),
            "ACT_PROD_REGISTRY_PORT": str(self.registry_port),
        }

    def script(self, action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPTS / "act-production.sh"), action],
            cwd=ROOT,
            env={**os.environ, **self.environment()},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def _admin(self) -> tuple[str, str]:
        secrets = dict(
            line.split("=", 1)
            for line in (self.directory / "secrets.env").read_text().splitlines()
            if "=" in line
        )
        return ("admin", secrets["MLFLOW_ADMIN_PASSWORD"])

    def registry(self, path: str, **query: str) -> dict[str, Any] | None:
        """GET /api/2.0/mlflow/PATH as the admin; None when the resource does not exist."""
        response = httpx.get(
            f"{self.tracking_uri}/api/2.0/mlflow/{path}", params=query, auth=self._admin()
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        return document

    def aliases(self, model: str) -> dict[str, str]:
        found = self.registry("registered-models/get", name=model)
        if found is None:
            return {}
        return {
            entry["alias"]: str(entry["version"])
            for entry in found["registered_model"].get("aliases", [])
        }

    def version_tags(self, model: str, version: str) -> dict[str, str]:
        found = self.registry("model-versions/get", name=model, version=version)
        assert found is not None, f"{model} has no version {version}"
        return {tag["key"]: tag["value"] for tag in found["model_version"].get("tags", [])}

    def refuses_anonymous_reads(self) -> bool:
        url = f"{self.tracking_uri}/api/2.0/mlflow/registered-models/search"
        return httpx.get(url).status_code == 401

    def image_tags(self, repository: str = "mlship/mlship-api") -> list[str]:
        url = f"http://127.0.0.1:{self.registry_port}/v2/{repository}/tags/list"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return sorted(json.load(response).get("tags") or [])
        except urllib.error.HTTPError as error:
            if error.code == 404:  # the repository does not exist yet
                return []
            raise

    def deploy_log(self) -> list[str]:
        """Subjects of the deploy branch's commits, newest first ([] before the first)."""
        result = subprocess.run(
            ["git", "-C", str(self.deploy_remote), "log", "--format=%s", BRANCH],
            capture_output=True,
            text=True,
            check=False,
        )
        return result.stdout.splitlines() if result.returncode == 0 else []

    def record(self, scratch: Path, model: str) -> dict[str, Any]:
        """A model's deploy record at the tip of the deploy branch, read by the record script."""
        shown = subprocess.run(
            [
                "git",
                "-C",
                str(self.deploy_remote),
                "show",
                f"{BRANCH}:{RELEASE}/{model}/kustomization.yaml",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        path = scratch / "record.yaml"
        path.write_text(shown.stdout, encoding="utf-8")
        read = subprocess.run(
            [
                sys.executable,
                str(SCRIPTS / "deploy_record.py"),
                "show",
                "--record",
                str(path),
                "--json",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        document: dict[str, Any] = json.loads(read.stdout)
        return document
