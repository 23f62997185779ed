"""Smoke test of an API image: the baked model answers its known samples, /metrics
carries the model metrics and a Prometheus on the same network scrapes it.

`make smoke API_IMAGE=...` runs this against a given image; without one the
suite builds the image with a freshly registered model baked in.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.smoke.deployment import API_KEY, SmokeDeployment
from tests.support.components import wait_until

pytestmark = [pytest.mark.smoke, pytest.mark.docker]

MODEL_METRICS = (
    "mlship_model_info",
    "mlship_model_loaded",
    "mlship_predictions_total",
    "mlship_http_requests_total",
    "mlship_inference_duration_seconds",
)


READY_TIMEOUT_SECONDS = 120


def _wait_ready(deployment: SmokeDeployment) -> None:
    url = deployment.api_url
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health/ready", timeout=3).status_code == 200:
                return
        except httpx.HTTPError:
            pass  # still starting
        time.sleep(0.5)
    pytest.fail(
        f"API not ready after {READY_TIMEOUT_SECONDS} s\n{deployment.logs()}", pytrace=False
    )


@pytest.fixture(scope="module")
def deployment(api_image: str) -> Iterator[SmokeDeployment]:
    deployment = SmokeDeployment(api_image)
    try:
        deployment.start()
        _wait_ready(deployment)
        yield deployment
    finally:
        deployment.close()
    assert deployment.leftovers() == []


@pytest.fixture(scope="module")
def metadata(deployment: SmokeDeployment) -> dict[str, Any]:
    document = deployment.baked_mlmodel()
    metadata: dict[str, Any] = document.get("metadata") or {}
    assert "smoke_sample" in metadata, "the baked model carries no smoke_sample metadata"
    return metadata


def test_known_samples_predict_the_right_class(
    deployment: SmokeDeployment, metadata: dict[str, Any]
) -> None:
    sample = metadata["smoke_sample"]
    with httpx.Client(base_url=deployment.api_url, headers={"X-API-Key": API_KEY}) as client:
        batch = client.post("/predict/batch", json={"instances": sample["inputs"]})
        single = client.post("/predict", json={"features": sample["inputs"][0]})
    assert batch.status_code == 200, batch.text
    predicted = [row["class_index"] for row in batch.json()["predictions"]]
    assert predicted == sample["expected"]
    assert single.json()["class_index"] == sample["expected"][0]
    assert single.json()["class_name"] == metadata["class_names"][sample["expected"][0]]


def test_serves_the_baked_model_without_a_registry(deployment: SmokeDeployment) -> None:
    described = httpx.get(f"{deployment.api_url}/model").json()
    assert described["loaded"] is True
    assert described["model_uri"] == "/opt/mlship/model"
    assert described["version"]


def test_metrics_expose_the_model_metrics(deployment: SmokeDeployment) -> None:
    with httpx.Client(base_url=deployment.api_url, headers={"X-API-Key": API_KEY}) as client:
        client.post("/predict", json={"features": client.get("/model").json()["features"]})
        text = client.get("/metrics").text
    for metric in MODEL_METRICS:
        assert metric in text, f"/metrics lacks {metric}"
    version = httpx.get(f"{deployment.api_url}/model").json()["version"]
    assert f'model_version="{version}"' in text


def test_prometheus_reports_the_api_target_up(deployment: SmokeDeployment) -> None:
    url = deployment.prometheus_url

    def target_up() -> bool:
        response = httpx.get(f"{url}/api/v1/targets", params={"state": "active"}, timeout=3)
        targets = response.json()["data"]["activeTargets"]
        return any(
            target["labels"]["job"] == "mlship-api" and target["health"] == "up"
            for target in targets
        )

    wait_until(target_up, timeout=60, what="Prometheus target mlship-api up")


def test_the_api_stops_gracefully_on_sigterm(deployment: SmokeDeployment) -> None:
    deployment.api.stop(timeout=20)
    deployment.api.reload()
    state = deployment.api.attrs["State"]
    assert state["ExitCode"] == 0, f"exit code {state['ExitCode']}\n{deployment.logs()}"
