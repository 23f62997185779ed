"""Several uvicorn workers: each loads the model, and metrics add up across workers.

A worker flushes its metrics to the shared directory every
``API_METRICS_FLUSH_SECONDS`` (and on every scrape it answers), so another
worker's scrape sees them within that interval: the test reads until the
numbers add up, bounded.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.api_process import api_process
from tests.support.mlflow_server import MlflowServer
from tests.support.models import register_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_two_workers_share_metrics(
    mlflow_server: MlflowServer, model_name: str, tmp_path: Path
) -> None:
    version = register_model(mlflow_server.uri, model_name)
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_stale.db").write_bytes(b"stale from an earlier run")
    with api_process(
        tmp_path / "api",
        API_MODEL_URI=f"models:/{model_name}@production",
        API_TRACKING_URI=mlflow_server.uri,
        API_WORKERS="2",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    ) as api:
        assert not (metrics_dir / "counter_stale.db").exists()
        requests = 60
        with httpx.Client(base_url=api.url, timeout=30) as client:
            api.wait_for("/health/ready", 200, timeout=180)
            # Each new connection may land on either worker; all must be ready.
            for _ in range(requests):
                with httpx.Client(base_url=api.url, timeout=30) as fresh:
                    response = fresh.post("/predict", json={"features": [5.1, 3.5, 1.4, 0.2]})
                    assert response.status_code == 200, response.text
                    assert response.json()["model_version"] == version
            deadline = time.monotonic() + 15
            values = totals(client.get("/metrics").text)
            while values.get("predict") != requests and time.monotonic() < deadline:
                time.sleep(0.25)
                values = totals(client.get("/metrics").text)
        pids = {path.name.split("_")[-1] for path in metrics_dir.glob("*.db")}
        assert len(pids) >= 2, sorted(path.name for path in metrics_dir.glob("*.db"))
    assert values["predict"] == requests
    assert values["loads"] == 2  # one per worker
    assert values["loaded"] == 1


def totals(exposition: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == "mlship_http_requests_total" and sample.labels["route"] == "/predict":
                values["predict"] = values.get("predict", 0) + sample.value
            if sample.name == "mlship_model_reloads_total" and sample.labels["result"] == "success":
                values["loads"] = sample.value
            if sample.name == "mlship_model_loaded":
                values["loaded"] = sample.value
    return values
