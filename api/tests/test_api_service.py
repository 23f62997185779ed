"""The app in-process on a real MLflow model directory: predictions, errors, auth, v2, docs."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.support.models import iris, train

from .conftest import ClientFactory

pytestmark = pytest.mark.unit
SEED = {"features": [5.1, 3.5, 1.4, 0.2]}


def test_predict_matches_the_fitted_pipelines_probabilities(client: TestClient) -> None:
    estimator, _ = train()  # deterministic: the pipeline saved in model_dir, fitted again
    features, _, class_names = iris()
    rows = features[::7]
    expected = estimator.predict_proba(rows)
    for row, probabilities in zip(rows, expected, strict=True):
        response = client.post("/predict", json={"features": row.tolist()})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["class_index"] == int(probabilities.argmax())
        assert body["class_name"] == class_names[body["class_index"]]
        np.testing.assert_allclose(
            [body["probabilities"][name] for name in class_names], probabilities, rtol=1e-9
        )
        assert body["model_name"] == "model"
    batch = client.post("/predict/batch", json={"instances": rows.tolist()})
    assert batch.status_code == 200
    predictions = batch.json()["predictions"]
    assert [p["class_index"] for p in predictions] == expected.argmax(axis=1).tolist()


def test_seed_example_predicts_setosa(client: TestClient) -> None:
    body = client.post("/predict", json=SEED).json()
    assert body["class_name"] == "setosa"
    assert set(body) == {
        "class_index",
        "class_name",
        "probabilities",
        "model_name",
        "model_version",
    }


BAD_INPUT = [
    ("/predict", b'{"features": [1, NaN, 3, 4]}', {}, 422, "finite number"),
    ("/predict", b'{"features": [1, 2, 3]}', {}, 422, "expected 4 values"),
    ("/predict", b'{"features": ["a", 2, 3, 4]}', {}, 422, "got a string"),
    ("/predict", b'{"features": [[1], 2, 3, 4]}', {}, 422, "got an array"),
    ("/predict", b'{"features": []}', {}, 422, "got 0"),
    ("/predict", b"{oops", {}, 422, "not valid JSON"),
    ("/predict", b'{"features": [1, 2, 3, 4]}', {"content-type": "text/plain"}, 415, "json"),
    ("/predict", b"features=1", {"content-type": "application/x-www-form-urlencoded"}, 415, ""),
    ("/predict", b'{"features": [' + b"1," * 600 + b"1]}", {}, 413, "exceeds the limit"),
    ("/predict/batch", b'{"instances": []}', {}, 422, "at least 1 row"),
    ("/predict/batch", b'{"instances": [[1,2,3,4],[1,2,3,4],[1,2,3,4]]}', {}, 413, "of 2"),
]


@pytest.mark.parametrize("case", BAD_INPUT, ids=[f"{c[0]}-{c[3]}-{c[4]}" for c in BAD_INPUT])
def test_bad_input_is_refused_and_the_service_stays_ready(
    client_for: ClientFactory, case: tuple[str, bytes, dict[str, str], int, str]
) -> None:
    path, content, headers, status, needle = case
    client = client_for(max_body_bytes=1024, max_batch_rows=2)
    sent = {"content-type": "application/json", **headers}
    response = client.post(path, content=content, headers=sent)
    assert response.status_code == status, response.text
    assert needle.lower() in response.text.lower()
    assert client.get("/health/ready").status_code == 200
    assert client.post("/predict", json=SEED).status_code == 200


def test_chunked_body_over_the_limit_is_refused(client_for: ClientFactory) -> None:
    client = client_for(max_body_bytes=1024)

    def chunks() -> Iterator[bytes]:
        yield b'{"features": ['
        for _ in range(300):
            yield b"1.0,"
        yield b"1.0]}"

    response = client.post(
        "/predict", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_auth_matrix(client_for: ClientFactory) -> None:
    client = client_for(keys="alpha,beta")
    cases = [
        ({}, 401),
        ({"X-API-Key": "wrong"}, 403),
        ({"Authorization": "Bearer wrong"}, 403),
        ({"X-API-Key": "alpha"}, 200),
        ({"Authorization": "Bearer beta"}, 200),
        ({"Authorization": "Basic alpha"}, 401),
    ]
    for headers, status in cases:
        assert client.post("/predict", json=SEED, headers=headers).status_code == status, headers
        rows = {"instances": [SEED["features"]]}
        batch = client.post("/predict/batch", json=rows, headers=headers)
        assert batch.status_code == status
        assert client.post("/admin/reload", headers=headers).status_code == status
    unauthorized = client.post("/predict", json=SEED)
    assert unauthorized.headers["www-authenticate"].startswith("Bearer")
    for open_path in ("/health/live", "/health/ready", "/model", "/metrics", "/docs"):
        assert client.get(open_path).status_code == 200, open_path


def test_keys_file(client_for: ClientFactory, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("# service keys\nfrom-file\n\n")
    client = client_for(keys_file=keys)
    assert client.post("/predict", json=SEED, headers={"X-API-Key": "from-file"}).status_code == 200
    assert client.post("/predict", json=SEED).status_code == 401


def test_admin_is_disabled_without_keys_and_predictions_are_open(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = client.post("/admin/reload", headers={"X-API-Key": "anything"})
    assert response.status_code == 403
    assert "disabled" in response.json()["detail"]
    assert client.post("/predict", json=SEED).status_code == 200


def test_admin_reload_reports_unchanged(client_for: ClientFactory) -> None:
    client = client_for(keys="k")
    body = client.post("/admin/reload", headers={"X-API-Key": "k"}).json()
    assert body["outcome"] == "unchanged"


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    echoed = client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = client.get("/health/live").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    forged = client.get("/health/live", headers={"X-Request-ID": 'bad"\n{'})
    assert forged.headers["x-request-id"] != 'bad"\n{'


def test_model_description(client: TestClient, model_dir: Path) -> None:
    body = client.get("/model").json()
    assert body["loaded"] is True
    assert body["features"] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert body["class_names"] == ["setosa", "versicolor", "virginica"]
    assert body["source_uri"] == str(model_dir)
    assert body["signature"]["inputs"][0] == {
        "type": "double",
        "name": "sepal_length",
        "required": True,
    }
    assert body["loaded_at"]


def test_degraded_model_is_never_served(
    client_for: ClientFactory, degraded_model_dir: Path
) -> None:
    client = client_for(model_uri=str(degraded_model_dir), _ready=False)
    for _ in range(600):
        if client.get("/model").json()["failed_versions"]:
            break
        time.sleep(0.05)
    body = client.get("/model").json()
    assert body["loaded"] is False
    [reason] = body["failed_versions"].values()
    assert "smoke-sample rows predicted the wrong class" in reason
    assert client.get("/health/ready").status_code == 503
    assert client.post("/predict", json=SEED).status_code == 503
    assert 'mlship_model_reloads_total{result="failed"} 1.0' in client.get("/metrics").text


def test_open_inference_protocol(client: TestClient) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    metadata = client.get("/v2/models/model").json()
    assert metadata["inputs"][0]["shape"] == [-1, 4]
    assert client.get("/v2/models/model/ready").json()["ready"] is True
    assert client.get("/v2/models/other").status_code == 404
    rows = [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5]]
    tensor = {"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP64", "data": rows}]}
    response = client.post("/v2/models/model/infer", json={**tensor, "id": "r1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == "r1"
    outputs = {output["name"]: output for output in body["outputs"]}
    assert outputs["predict"]["data"] == [0, 2]
    assert outputs["predict_proba"]["shape"] == [2, 3]
    assert len(outputs["predict_proba"]["data"]) == 6
    names = ("sepal_length", "sepal_width", "petal_length", "petal_width")
    columns = {
        "inputs": [
            {"name": name, "shape": [2], "datatype": "FP64", "data": [row[i] for row in rows]}
            for i, name in enumerate(names)
        ],
        "outputs": [{"name": "predict"}],
    }
    by_column = client.post("/v2/models/model/infer", json=columns).json()
    assert by_column["outputs"] == [outputs["predict"]]
    bad = {"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "BYTES", "data": ["a"]}]}
    refused = client.post("/v2/models/model/infer", json=bad)
    assert refused.status_code == 400
    assert "must be a numeric datatype" in refused.json()["error"]


def test_docs_are_served_without_a_cdn(client: TestClient) -> None:
    page = client.get("/docs").text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets
    assert all(asset.startswith("/") for asset in assets), assets
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    schema = client.get("/openapi.json").json()
    examples = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"][
        "examples"
    ]
    assert examples["values"]["value"] == SEED
    assert "APIKeyHeader" in schema["components"]["securitySchemes"]


def test_health_answers_head_without_a_body(client: TestClient) -> None:
    for path in ("/health/live", "/health/ready", "/v2/health/live", "/v2/health/ready"):
        response = client.head(path)
        assert response.status_code == 200, path
        assert response.content == b""
        assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "outputs", [{"name": "predict"}, [{"name": 1}], ["predict"], [{"nom": "predict"}]]
)
def test_v2_malformed_outputs_are_refused_by_the_protocol(
    client: TestClient, outputs: object
) -> None:
    body = {
        "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": SEED["features"]}],
        "outputs": outputs,
    }
    refused = client.post("/v2/models/model/infer", json=body)
    assert refused.status_code == 400
    assert refused.json()["error"].startswith("outputs: must be an array of objects")


def test_no_redirect_takes_its_host_from_the_request(client: TestClient) -> None:
    response = client.get(
        "/health/live/", headers={"Host": "attacker.example"}, follow_redirects=False
    )
    assert response.status_code == 404
    assert "location" not in response.headers
