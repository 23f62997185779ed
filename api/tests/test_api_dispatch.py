"""The direct dispatch of the prediction routes answers exactly as FastAPI's routing does.

With CORS on, a request carrying ``Origin`` goes through the middleware stack
and FastAPI's routing; without it, the same request takes the dispatch. Both
must give the same status, body, security headers and metrics.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from mlship.api.metrics import Metrics

from .conftest import ClientFactory

pytestmark = pytest.mark.unit
ORIGIN = "http://ui.example"
KEY = {"X-API-Key": "secret-key"}
SEED = {"features": [5.1, 3.5, 1.4, 0.2]}
V2_TENSOR = {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": SEED["features"]}
CASES: dict[str, dict[str, Any]] = {
    "prediction": {"json": SEED, "headers": KEY},
    "named features": {
        "json": {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
        "headers": KEY,
    },
    "batch": {"path": "/predict/batch", "json": {"instances": [[5.1, 3.5, 1.4, 0.2]] * 3}},
    "v2": {"path": "/v2/models/model/infer", "json": {"inputs": [V2_TENSOR]}},
    "v2 bad tensor": {
        "path": "/v2/models/model/infer",
        "json": {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "BYTES", "data": ["a"]}]},
    },
    "v2 other model": {"path": "/v2/models/other/infer", "json": {"inputs": []}},
    "v2 other version": {"path": "/v2/models/model/versions/0/infer", "json": {"inputs": []}},
    "v2 untyped JSON": {
        "path": "/v2/models/model/infer",
        "content": json.dumps({"inputs": [{**V2_TENSOR, "datatype": "FP32"}]}).encode(),
    },
    "v2 binary header past the body": {
        "path": "/v2/models/model/infer",
        "content": b'{"inputs": []}',
        "headers": {**KEY, "Inference-Header-Content-Length": "99"},
    },
    "bad value": {"json": {"features": [5.1, "x", 1.4, 0.2]}, "headers": KEY},
    "not JSON": {"content": b"{", "headers": {**KEY, "Content-Type": "application/json"}},
    "wrong content type": {"content": b"a=1", "headers": {**KEY, "Content-Type": "text/plain"}},
    "too large": {"json": {"features": [1.0] * 2000}, "headers": KEY},
    "no key": {"json": SEED},
    "wrong key": {"json": SEED, "headers": {"X-API-Key": "wrong"}},
}
SECURITY_HEADERS = ("x-content-type-options", "cache-control", "content-security-policy")


def call(client: TestClient, case: dict[str, Any], origin: str | None) -> Any:
    headers = dict(case.get("headers", KEY))
    if origin:
        headers["Origin"] = origin
    return client.post(
        case.get("path", "/predict"),
        json=case.get("json"),
        content=case.get("content"),
        headers=headers,
    )


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_dispatch_and_fastapi_give_the_same_answer(
    client_for: ClientFactory, case: dict[str, Any]
) -> None:
    client = client_for(keys="secret-key", cors_allow_origins=ORIGIN, max_body_bytes=4096)
    hot = call(client, case, origin=None)
    routed = call(client, case, origin=ORIGIN)
    assert hot.status_code == routed.status_code
    assert hot.json() == routed.json()
    assert routed.headers["access-control-allow-origin"] == ORIGIN
    assert "access-control-allow-origin" not in hot.headers
    for response in (hot, routed):
        assert response.headers["content-type"] == "application/json"
        assert all(name in response.headers for name in SECURITY_HEADERS)
        assert len(response.headers["x-request-id"]) == 32
    assert hot.headers.get("www-authenticate") == routed.headers.get("www-authenticate")


def test_both_paths_are_counted_under_the_route_template(client_for: ClientFactory) -> None:
    client = client_for(cors_allow_origins=ORIGIN)
    for origin in (None, ORIGIN, None):
        assert call(client, {"json": SEED, "headers": {}}, origin).status_code == 200
    requests = predictions = 0.0
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "mlship_http_requests_total" and sample.labels["route"] == "/predict":
                requests += sample.value
            if sample.name == "mlship_predictions_total":
                predictions += sample.value
    assert (requests, predictions) == (3, 3)


def test_each_worker_writes_its_counts_on_an_interval_without_a_scrape(tmp_path: Path) -> None:
    # With several workers, one worker's scrape reads the others' files: each
    # worker must write its counts by itself.
    metrics = Metrics(multiprocess_dir=str(tmp_path))
    metrics.predictions.inc(("7", "setosa"), 3)

    async def run_flusher_briefly() -> None:
        flusher = asyncio.create_task(metrics.flush_every(0.01))
        await asyncio.sleep(0.1)
        flusher.cancel()

    asyncio.run(run_flusher_briefly())
    (written,) = tmp_path.glob("mlship_*.json")
    snapshot = json.loads(written.read_text())
    assert snapshot["mlship_predictions_total"] == [[["7", "setosa"], 3.0]]


def test_a_scrape_sums_every_workers_counts(tmp_path: Path) -> None:
    worker, other = Metrics(multiprocess_dir=str(tmp_path)), Metrics()
    other.predictions.inc(("7", "setosa"), 2)
    other.http_duration.observe(("/predict", "POST"), 0.003)
    (tmp_path / "mlship_1.json").write_text(json.dumps(other._snapshot()))  # a dead worker's file
    worker.predictions.inc(("7", "setosa"), 3)
    worker.http_duration.observe(("/predict", "POST"), 0.02)
    found = {
        (sample.name, sample.labels.get("le")): sample.value
        for family in text_string_to_metric_families(worker.render()[0].decode())
        for sample in family.samples
    }
    assert found[("mlship_predictions_total", None)] == 5
    assert found[("mlship_http_request_duration_seconds_bucket", "0.005")] == 1
    assert found[("mlship_http_request_duration_seconds_bucket", "0.025")] == 2
    assert found[("mlship_http_request_duration_seconds_count", None)] == 2
