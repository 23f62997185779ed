"""The delivery steps (the make targets the workflows call) against a real
PostgreSQL-backed MLflow server: trainings that share a registry each gate and
package their own version, by number; a missing artifact, a gate that fails on
main, a refused promotion and a failure after the promotion each stop with a
message, and leave the aliases as they were (restored, after a promotion).

Each test uses a model name of its own on the session's tracking server; the
pull request's registry and the persistent one are the same server here (the
act lifecycle test keeps them apart).
"""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.containers.docker_engine import base_image, project_images
from tests.support.components import free_port
from tests.support.mlflow_server import MlflowServer
from tests.workflows.act_repo import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass
class Delivery:
    """The delivery steps as make targets, with their state in a directory of their own."""

    server: MlflowServer
    model_name: str
    state: Path

    def make(self, *targets: str, **extra: str) -> subprocess.CompletedProcess[str]:
        variables = {
            "MLFLOW_TRACKING_URI": self.server.uri,
            "MODEL_NAME": self.model_name,
            "CI_DIR": str(self.state / "ci"),
            "BUNDLE_DIR": str(self.state / "bundle"),
            "GATE_REPORT_DIR": str(self.state / "reports"),
            "GIT_SHA": "1" * 40,
            "HEAD_SHA": "1" * 40,
            **extra,
        }
        environment = {key: value for key, value in os.environ.items() if "MAKE" not in key}
        return subprocess.run(
            ["make", "--no-print-directory", *targets, *(f"{k}={v}" for k, v in variables.items())],
            cwd=ROOT,
            env={**environment, **variables},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    def client(self) -> MlflowClient:
        return MlflowClient(self.server.uri, registry_uri=self.server.uri)

    def aliases(self) -> dict[str, str]:
        model = self.client().get_registered_model(self.model_name)
        return {alias: str(version) for alias, version in model.aliases.items()}

    def trained_bundle(self, seed: int) -> None:
        """What a pull request publishes: train, gate by number, export."""
        done = self.make("ci-train", "ci-gate", "ci-export", MLSHIP_SEED=str(seed))
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    def delivered(self) -> str:
        """Register the bundle, gate it again and promote it; returns the version."""
        done = self.make("ci-verify", "ci-register", "ci-gate-registered", "ci-promote")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return self.aliases()["production"]


@pytest.fixture
def delivery(mlflow_server: MlflowServer, model_name: str, tmp_path: Path) -> Delivery:
    return Delivery(mlflow_server, model_name, tmp_path)


def test_concurrent_trainings_on_one_registry_each_gate_their_own_version(
    mlflow_server: MlflowServer, model_name: str, tmp_path: Path
) -> None:
    pulls = [Delivery(mlflow_server, model_name, tmp_path / f"pr-{n}") for n in (1, 2)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda pull: pull[1].trained_bundle(seed=pull[0]), enumerate(pulls)))
    packaged = set()
    for pull in pulls:
        trained = json.loads((pull.state / "ci" / "train.json").read_text())["version"]
        manifest = json.loads((pull.state / "bundle" / "manifest.json").read_text())
        gate = json.loads((pull.state / "bundle" / "gate_report.json").read_text())
        assert manifest["source_version"] == gate["version"] == trained
        packaged.add(trained)
    assert len(packaged) == 2, "both pull requests packaged the same version"


def test_a_missing_artifact_fails_with_how_to_produce_it(delivery: Delivery) -> None:
    (delivery.state / "store").mkdir()
    fetched = delivery.make("ci-fetch", ARTIFACT_STORE=str(delivery.state / "store"))
    assert fetched.returncode != 0
    assert f"no artifact model-{delivery.model_name}-{'1' * 40}" in fetched.stderr
    assert "re-run the pull request workflow" in fetched.stderr
    assert not (delivery.state / "bundle").exists()


def test_a_gate_that_fails_on_main_and_a_refused_promotion_move_nothing(
    delivery: Delivery,
) -> None:
    delivery.trained_bundle(seed=42)
    first = delivery.delivered()
    (delivery.state / "bundle").rename(delivery.state / "first-bundle")
    delivery.trained_bundle(seed=7)  # the pull request's gate passed against production
    # Then production got far better than any retrain (as if another delivery landed
    # first): the gate on main, against the *current* production, must fail.
    run_id = delivery.client().get_model_version(delivery.model_name, first).run_id
    assert run_id is not None
    for metric, value in {"accuracy": 1.0, "f1_macro": 1.0, "log_loss": 0.0}.items():
        delivery.client().log_metric(run_id, metric, value)
    before = delivery.aliases()

    gated = delivery.make("ci-verify", "ci-register", "ci-gate-registered")

    assert gated.returncode != 0
    assert "failed the gate: regression:" in gated.stderr
    assert delivery.aliases() == before
    # The workflow stops there; even a promotion forced next is refused.
    promoted = delivery.make("ci-promote")
    assert promoted.returncode != 0
    assert "failed the gate" in promoted.stderr
    assert delivery.aliases() == before


@pytest.mark.docker
@pytest.mark.usefixtures("docker_engine")
def test_a_failure_after_promotion_restores_the_aliases_and_pushes_nothing(
    delivery: Delivery,
) -> None:
    delivery.trained_bundle(seed=42)
    first = delivery.delivered()
    (delivery.state / "bundle").rename(delivery.state / "first-bundle")
    (delivery.state / "ci" / "promotion.json").unlink()
    delivery.trained_bundle(seed=7)
    second = delivery.delivered()
    assert delivery.aliases() == {"production": second, "previous": first}
    promotion = json.loads((delivery.state / "ci" / "promotion.json").read_text())
    assert promotion["before"] == {"production": first, "previous": None}
    # Nothing listens on this registry port: the push fails after the promotion.
    image = f"127.0.0.1:{free_port()}/mlship/mlship-api:test"
    subprocess.run(["docker", "tag", base_image("PYTHON_IMAGE"), image], check=True)
    try:
        pushed = delivery.make("ci-push", API_IMAGE=image)
    finally:
        subprocess.run(["docker", "rmi", image], capture_output=True, check=False)
    assert pushed.returncode != 0
    assert not (delivery.state / "ci" / "image-digest").exists()

    restored = delivery.make("ci-restore")

    assert restored.returncode == 0, restored.stderr
    assert delivery.aliases() == {"production": first}


@pytest.mark.docker
@pytest.mark.usefixtures("docker_engine")
def test_a_failing_smoke_test_stops_delivery_before_the_promotion(delivery: Delivery) -> None:
    delivery.trained_bundle(seed=42)
    registered = delivery.make("ci-verify", "ci-register", "ci-gate-registered")
    assert registered.returncode == 0, registered.stdout[-3000:] + registered.stderr[-3000:]
    before = delivery.aliases()
    # An image with no model baked in cannot pass the smoke suite (it serves no model).
    smoked = delivery.make(
        "smoke", API_IMAGE=project_images().api, PYTEST_ARGS="-p no:cacheprovider"
    )

    assert smoked.returncode != 0
    assert "tests/smoke/test_smoke_api_image.py" in smoked.stdout, smoked.stdout[-3000:]
    # The workflow stops at the smoke test: the promotion after it never ran.
    assert delivery.aliases() == before
    assert "production" not in before
    assert not (delivery.state / "ci" / "promotion.json").exists()
