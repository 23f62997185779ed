"""The second declared model's whole lifecycle against a real PostgreSQL-backed MLflow server.

``BreastCancerForest`` differs from Iris in every way that matters: 30 features, two
classes, a 200-tree forest with no scaler, served through ONNX in float32. Nothing
but its specification says so: the same commands train, gate, promote and roll it back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from mlflow.models import Model
from mlflow.tracking import MlflowClient
from sklearn.datasets import load_breast_cancer

from mlship.model.catalog import Catalog
from mlship.model.cli import main
from mlship.model.errors import ExitCode
from tests.integration.api_process import ApiProcess, api_process
from tests.support.components import wait_until
from tests.support.mlflow_server import MlflowServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FOREST = "BreastCancerForest"


@pytest.fixture(autouse=True)
def bounded_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    monkeypatch.setenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    # The specification names the registered model: nothing from the caller's shell.
    for name in ("MODEL_NAME", "MLSHIP_MODEL", "MLSHIP_EXPERIMENT_NAME", "MLSHIP_SEED"):
        monkeypatch.delenv(name, raising=False)


def mlship(capsys: pytest.CaptureFixture[str], uri: str, *argv: str) -> Any:
    code = main([*argv, "--model", FOREST, "--tracking-uri", uri, "--json"])
    captured = capsys.readouterr()
    assert code == ExitCode.OK, captured.err
    return json.loads(captured.out)


def serves_version(api: ApiProcess, version: str) -> bool:
    with api.client() as client:
        return bool(client.get("/health/ready").json().get("model_version") == version)


def check_served_answers(api: ApiProcess, uri: str, version: str) -> None:
    """The API answers as the registered scikit-learn pipeline does, by class name."""
    rows = load_breast_cancer().data[::57]
    named = pd.DataFrame(rows, columns=Catalog.discover().get(FOREST).data.features)
    reference = mlflow.sklearn.load_model(f"models:/{FOREST}/{version}").predict_proba(named)
    with api.client() as client:
        described = client.get("/model").json()
        answer = client.post("/predict/batch", json={"instances": rows.tolist()})
        metrics = client.get("/metrics").text
    assert (described["name"], described["version"], described["runtime"]) == (
        FOREST,
        version,
        "onnx",
    )
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    names = ["malignant", "benign"]
    assert [p["class_name"] for p in predictions] == [names[i] for i in reference.argmax(1)]
    served = np.array([[p["probabilities"][name] for name in names] for p in predictions])
    np.testing.assert_allclose(served, reference, atol=1e-4)  # the float32 form's tolerance
    assert f'mlship_predictions_total{{model="{FOREST}",model_version="{version}"' in metrics


def test_train_validate_promote_serve_rollback_of_the_forest(
    mlflow_server: MlflowServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    uri = mlflow_server.uri
    client = MlflowClient(uri, registry_uri=uri)
    spec = Catalog.discover().get(FOREST)

    first = mlship(capsys, uri, "train")
    assert (first["model_name"], first["spec"], first["version"]) == (FOREST, FOREST, "1")
    run = client.get_run(first["run_id"])
    assert run.data.params["n_estimators"] == "200"
    assert run.data.params["estimator"] == "RandomForestClassifier"
    assert client.get_experiment(first["experiment_id"]).name == spec.experiment
    for name, rule in spec.gate.metrics.items():
        assert rule.better_or_equal(first["metrics"][name], rule.threshold), name

    location = client.get_model_version_download_uri(FOREST, "1")
    model = Model.load(f"{location.rstrip('/')}/MLmodel")
    metadata = model.metadata or {}
    assert metadata["serving"]["runtime"] == "onnx"
    assert metadata["serving"]["input_dtype"] == "float32"
    assert metadata["class_names"] == ["malignant", "benign"]
    assert metadata["smoke_sample"] == spec.smoke_sample()
    assert model.signature is not None
    assert model.signature.inputs.input_names() == spec.data.features

    report = mlship(capsys, uri, "validate")
    assert report["passed"] is True, report
    checks = {check["name"]: check for check in report["checks"]}
    assert checks["threshold:accuracy"]["limit"] == 0.92  # the forest's own policy
    assert checks["smoke"]["detail"] == "6 smoke rows classified correctly"
    assert checks["onnx_parity"]["passed"]
    assert checks["onnx_parity"]["detail"].startswith("float32 ONNX form on 114 test rows: 0 rows")
    assert checks["onnx_parity"]["limit"] == 1e-4
    assert report["thresholds"].endswith("breast_cancer.toml")
    assert mlship(capsys, uri, "promote")["production"] == "1"

    second = mlship(capsys, uri, "train")
    again = mlship(capsys, uri, "validate", "--version", second["version"])
    assert again["passed"] is True, again
    assert {check["kind"] for check in again["checks"]} >= {"regression", "signature"}
    # A deterministic retrain scores exactly what production scores.
    assert second["metrics"] == first["metrics"]
    promoted = mlship(capsys, uri, "promote")
    assert (promoted["production"], promoted["previous"]) == ("2", "1")

    mlflow.set_tracking_uri(uri)
    with api_process(
        tmp_path,
        API_MODEL_URI=f"models:/{FOREST}@production",
        API_TRACKING_URI=uri,
        API_RELOAD_INTERVAL_SECONDS="0.5",
    ) as api:
        api.wait_for("/health/ready", 200, timeout=120)
        check_served_answers(api, uri, "2")
        rolled = mlship(capsys, uri, "rollback")
        assert (rolled["production"], rolled["previous"]) == ("1", "2")
        wait_until(lambda: serves_version(api, "1"), timeout=60, what="the API serving v1")
        check_served_answers(api, uri, "1")
    status = mlship(capsys, uri, "status")
    assert status["model_name"] == FOREST
    assert status["aliases"] == {"production": "1", "previous": "2"}
    assert all(row["gate"] == "passed" for row in status["versions"])
