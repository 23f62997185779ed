"""The exported metric names, labels and values that dashboards and alerts rely on."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from mlship.api.metrics import SETTLE_ROWS, Metrics
from tests.support.models import iris

from .conftest import ClientFactory

pytestmark = pytest.mark.unit


def samples(client: TestClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def value(found: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    wanted = labels.items()
    return sum(v for got, v in found.get(name, []) if wanted <= got.items())


def test_metric_names_and_labels(client: TestClient) -> None:
    client.post("/predict", json={"features": [5.1, 3.5, 1.4, 0.2]})
    client.get("/no/such/path")
    found = samples(client)
    expected_labels = {
        "mlship_http_requests_total": {"route", "method", "status_class"},
        "mlship_http_request_duration_seconds_bucket": {"route", "method", "le"},
        "mlship_http_requests_in_flight": set(),
        "mlship_model_info": {"model_name", "model_version", "run_id"},
        "mlship_build_info": {"image_ref"},
        "mlship_model_loaded": set(),
        "mlship_model_load_duration_seconds_bucket": {"le"},
        "mlship_model_reloads_total": {"result"},
        "mlship_registry_reachable": set(),
        "mlship_predictions_total": {"model", "model_version", "predicted_class"},
        "mlship_inference_duration_seconds_bucket": {"model", "endpoint", "le"},
        "mlship_prediction_confidence_bucket": {"model", "le"},
        "mlship_feature_quantile_bucket": {"model", "feature", "le"},
    }
    for name, labels in expected_labels.items():
        assert name in found, name
        assert all(set(sample_labels) == labels for sample_labels, _ in found[name]), name
    http = found["mlship_http_request_duration_seconds_bucket"]
    http_buckets = {labels["le"] for labels, _ in http}
    assert {"0.005", "0.5", "1.0"} <= http_buckets
    tenths = {labels["le"] for labels, _ in found["mlship_prediction_confidence_bucket"]}
    assert tenths == {f"{step / 10:.1f}" for step in range(1, 11)} | {"+Inf"}
    assert value(found, "mlship_http_requests_total", route="/predict", status_class="2xx") == 1
    assert value(found, "mlship_http_requests_total", route="unmatched", status_class="4xx") == 1
    assert value(found, "mlship_model_loaded") == 1
    assert value(found, "mlship_model_info") == 1
    assert value(found, "mlship_predictions_total", predicted_class="setosa") == 1
    assert value(found, "mlship_model_reloads_total", result="success") == 1
    assert value(found, "mlship_inference_duration_seconds_count", endpoint="predict") == 1
    # Every model metric names the registered model, so one dashboard tells models apart.
    served = {labels["model_name"] for labels, _ in found["mlship_model_info"]}
    for name in ("mlship_predictions_total", "mlship_prediction_confidence_bucket"):
        assert {labels["model"] for labels, _ in found[name]} == served, name


def test_batch_metrics_count_every_row(client: TestClient) -> None:
    features, target, class_names = iris()
    client.post("/predict/batch", json={"instances": features.tolist()})
    found = samples(client)
    predicted = {
        name: value(found, "mlship_predictions_total", predicted_class=name) for name in class_names
    }
    assert sum(predicted.values()) == len(features)
    # The training data itself: every decile bucket of every feature holds about 10 %.
    assert value(found, "mlship_prediction_confidence_count") == len(features)
    for feature in ("sepal_length", "petal_width"):
        total = value(found, "mlship_feature_quantile_count", feature=feature)
        assert total == len(features)
        cumulative = [
            v
            for labels, v in found["mlship_feature_quantile_bucket"]
            if labels["feature"] == feature and labels["le"] != "+Inf"
        ]
        assert cumulative[-1] == len(features)
        per_bucket = np.diff([0.0, *cumulative]) / len(features)
        assert per_bucket.max() < 0.35, per_bucket
    single = value(found, "mlship_inference_duration_seconds_count", endpoint="batch")
    assert single == 1
    assert np.bincount(target).sum() == len(features)


def test_build_info_names_the_image_of_api_image_ref(
    client_for: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The deploy record sets API_IMAGE_REF on the container (platform/k8s/overlays/prod).
    image = "localhost:5000/mlship-api@sha256:" + "ab" * 32
    monkeypatch.setenv("API_IMAGE_REF", image)
    found = samples(client_for())
    assert found["mlship_build_info"] == [({"image_ref": image}, 1.0)]


def test_build_info_without_an_image_ref_is_still_exported(client: TestClient) -> None:
    # Outside a deployment (tests, make serve) nothing names the image: an empty label.
    assert samples(client)["mlship_build_info"] == [({"image_ref": ""}, 1.0)]


def test_predictions_are_recorded_in_bulk_and_before_every_scrape() -> None:
    metrics = Metrics()
    seen: list[tuple[tuple[int, ...], tuple[int, ...]]] = []

    def record(rows: np.ndarray, probabilities: np.ndarray) -> None:
        seen.append((rows.shape, probabilities.shape))

    for _ in range(SETTLE_ROWS - 2):
        metrics.defer(record, np.ones((1, 4)), np.ones((1, 3)))
    assert seen == []
    metrics.defer(record, np.ones((2, 4)), np.ones((2, 3)))  # the bound: one call for all
    assert seen == [((SETTLE_ROWS, 4), (SETTLE_ROWS, 3))]
    metrics.defer(record, np.ones((SETTLE_ROWS, 4)), np.ones((SETTLE_ROWS, 3)))  # a bulk: now
    assert seen[-1] == ((SETTLE_ROWS, 4), (SETTLE_ROWS, 3))
    metrics.defer(record, np.ones((1, 4)), np.ones((1, 3)))
    metrics.render()
    assert seen[-1] == ((1, 4), (1, 3))
