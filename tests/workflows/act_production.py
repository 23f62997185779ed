"""The local production the act runs deliver to (make act-up), and what the tests read of it.

A persistent registry (PostgreSQL + MLflow), a local OCI registry standing in for
GitHub's container registry, a bare git repository holding the deploy branch and
a directory standing in for GitHub's artifact storage, all on free ports and in a
temporary directory, started by the project's own `act-production.sh`.
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

from mlflow.tracking import MlflowClient

from tests.workflows.act_repo import ROOT

SCRIPTS = ROOT / ".github/scripts"
RECORD = "platform/k8s/overlays/prod/release/kustomization.yaml"
BRANCH = "deploy/production"


@dataclass(frozen=True)
class ActProduction:
    directory: Path
    postgres_port: int
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
            "ACT_PROD_POSTGRES_PORT": str(self.postgres_port),
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

    def client(self) -> MlflowClient:
        return MlflowClient(self.tracking_uri, registry_uri=self.tracking_uri)

    def aliases(self, model: str) -> dict[str, str]:
        try:
            found = self.client().get_registered_model(model)
        except Exception:  # no such model yet: no aliases
            return {}
        return {alias: str(version) for alias, version in found.aliases.items()}

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

    def record(self, scratch: Path) -> dict[str, Any]:
        """The deploy record at the tip of the deploy branch, read by the record script."""
        shown = subprocess.run(
            ["git", "-C", str(self.deploy_remote), "show", f"{BRANCH}:{RECORD}"],
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
