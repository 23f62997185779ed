"""The CI stack for real: PostgreSQL, MLflow, the trainer, the API image and Prometheus.

One stack per module (they are slow to start); the tests run in order and the
last one takes it down and checks that nothing is left behind.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.containers.compose_stack import (
    ComposeStack,
    api_client,
    prometheus_target_up,
    prometheus_targets,
)
from tests.containers.docker_engine import ProjectImages
from tests.support.components import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
VIRGINICA = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.8, "petal_width": 2.2}


@pytest.fixture(scope="module")
def stack(images: ProjectImages) -> Iterator[ComposeStack]:
    stack = ComposeStack(images)
    started = time.monotonic()
    try:
        stack.compose("up", "--wait", "--wait-timeout", "600", "--no-build", timeout=900)
        print(f"\nci stack ready (trainer done, API ready) in {time.monotonic() - started:.0f} s")
        yield stack
    finally:
        stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "20")


def served_version(stack: ComposeStack) -> str:
    with api_client(stack) as client:
        response = client.get("/model")
    response.raise_for_status()
    return str(response.json()["version"])


def registry_snapshot(stack: ComposeStack) -> dict[str, Any]:
    """Versions, their tags and the aliases of the registered model, read as the reader."""
    base = f"{stack.mlflow}/api/2.0/mlflow"
    reader = stack.login("reader")
    model = httpx.get(
        f"{base}/registered-models/get", params={"name": "IrisClassifier"}, auth=reader
    ).json()
    versions = httpx.get(
        f"{base}/model-versions/search", params={"filter": "name='IrisClassifier'"}, auth=reader
    ).json()
    return {
        "aliases": sorted(
            (alias["alias"], alias["version"])
            for alias in model["registered_model"].get("aliases", [])
        ),
        "versions": sorted(
            (
                version["version"],
                version["run_id"],
                sorted((tag["key"], tag["value"]) for tag in version.get("tags", [])),
            )
            for version in versions["model_versions"]
        ),
    }


def test_api_serves_version_one_after_up_wait(stack: ComposeStack) -> None:
    with api_client(stack) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["model_version"] == "1"
        setosa = client.post("/predict", json={"features": SETOSA})
        virginica = client.post("/predict", json={"features": VIRGINICA})
    assert setosa.status_code == 200, setosa.text
    assert (setosa.json()["class_name"], setosa.json()["model_version"]) == ("setosa", "1")
    assert virginica.json()["class_name"] == "virginica"


def test_the_registry_admits_no_anonymous_caller(stack: ComposeStack) -> None:
    # The trainer wrote as delivery and the API read as reader: anonymous gets nothing.
    base = f"{stack.mlflow}/api/2.0/mlflow"
    anonymous = httpx.get(f"{base}/registered-models/get", params={"name": "IrisClassifier"})
    assert anonymous.status_code == 401
    create = httpx.post(f"{base}/registered-models/create", json={"name": "Anonymous"})
    assert create.status_code == 401


def test_a_promotion_is_served_without_restart(stack: ComposeStack) -> None:
    before = stack.container("api")["State"]
    stack.compose("run", "--rm", "trainer", timeout=900)
    wait_until(lambda: served_version(stack) == "2", timeout=90, what="API serving version 2")
    after = stack.container("api")["State"]
    assert after["StartedAt"] == before["StartedAt"]
    assert after["Running"]
    with api_client(stack) as client:
        response = client.post("/predict", json={"features": SETOSA})
    assert response.json()["model_version"] == "2"


def test_prometheus_reports_the_api_and_mlflow_targets_up(stack: ComposeStack) -> None:
    # The stack's scrape interval is 15 s, each target on its own offset: allow a few rounds.
    # MLflow's metrics come from its metrics port, which needs no login.
    for job in ("mlship-api", "mlflow"):
        try:
            wait_until(
                functools.partial(prometheus_target_up, stack.prometheus, job),
                timeout=90,
                what=f"Prometheus target {job} up",
            )
        except pytest.fail.Exception:
            print(prometheus_targets(stack.prometheus))
            raise


def test_restarting_postgres_and_mlflow_keeps_the_registry(stack: ComposeStack) -> None:
    before = registry_snapshot(stack)
    assert ("production", "2") in before["aliases"]
    assert [version for version, _, _ in before["versions"]] == ["1", "2"]
    stack.compose("restart", "postgres", "mlflow", timeout=300)
    stack.compose("up", "--wait", "--wait-timeout", "300", "--no-build", "postgres", "mlflow")
    assert registry_snapshot(stack) == before
    # The users survived (provisioning again is idempotent): the reader still reads.
    # The artifacts survived too: the API reloads version 1 from the registry on request.
    with httpx.Client(base_url=stack.mlflow, timeout=10, auth=stack.login("admin")) as client:
        files = client.get("/api/2.0/mlflow-artifacts/artifacts", params={"path": ""}).json()
    assert files.get("files"), files


def test_down_with_volumes_leaves_nothing_behind(stack: ComposeStack) -> None:
    stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "20")
    assert stack.leftovers() == {"container": [], "network": [], "volume": []}
