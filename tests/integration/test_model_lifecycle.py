"""The lifecycle against a real PostgreSQL-backed MLflow server, called in-process.

Covers the gate's refusals (degraded model, unreachable thresholds, another
signature), promotion refusals and what training writes to the registry.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlflow
import mlflow.sklearn
import pandas as pd
import pytest
from mlflow.models import get_model_info
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression

from mlship.model.catalog import Catalog, models_dir
from mlship.model.cli import main
from mlship.model.data import load_dataset
from mlship.model.errors import BadConfigError, ExitCode, NotFoundError, RefusedError
from mlship.model.gate_report import GateReport
from mlship.model.prediction import predict
from mlship.model.registry import promote, rollback
from mlship.model.settings import Settings
from mlship.model.training import TrainResult, train_and_register
from mlship.model.validation import validate
from tests.support.mlflow_server import MlflowServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

IRIS = Catalog.discover().get("IrisClassifier")
FEATURE_NAMES = IRIS.data.features


@pytest.fixture
def settings(
    mlflow_server: MlflowServer, model_name: str, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    # The CLI bounds MLflow's HTTP retries through the environment; keep that local to the test.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    monkeypatch.setenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    # The code under test sets MLflow's process-wide URIs; the root conftest's autouse
    # fixture puts them back after each test.
    return Settings(
        tracking_uri=mlflow_server.uri,
        model_name=model_name,
        experiment_name=f"exp-{model_name}",
        git_sha="a" * 40,
        pr="99",
        connect_timeout_seconds=5,
    )


def aliases(settings: Settings) -> dict[str, str]:
    client = MlflowClient(settings.tracking_uri)
    return dict(client.get_registered_model(settings.model_name).aliases)


def cli(settings: Settings, *argv: str) -> int:
    return main(
        [*argv, "--tracking-uri", settings.tracking_uri, "--model-name", settings.model_name]
    )


def assert_registry_contract(settings: Settings, first: TrainResult) -> None:
    """What training must leave in the registry: tags, metrics, artifacts, MLmodel contract."""
    client = MlflowClient(settings.tracking_uri)
    version = client.get_model_version(settings.model_name, first.version)
    assert version.tags["git_sha"] == settings.git_sha
    assert version.tags["pr"] == "99"
    assert version.tags["data_sha256"] == load_dataset(IRIS).sha256

    run = client.get_run(first.run_id)
    for metric in ("accuracy", "f1_macro", "log_loss", "precision_setosa", "recall_virginica"):
        assert metric in run.data.metrics
    assert run.data.params["C"] == "1.0"
    assert run.data.tags["git_sha"] == settings.git_sha
    artifacts = {item.path for item in client.list_artifacts(first.run_id)}
    assert {"confusion_matrix.png", "classification_report.txt"} <= artifacts

    info = get_model_info(f"models:/{settings.model_name}/{first.version}")
    assert info.signature is not None
    assert [(col["name"], col["type"]) for col in info.signature.inputs.to_dict()] == [
        (name, "double") for name in FEATURE_NAMES
    ]
    assert info.saved_input_example_info is not None
    metadata = info.metadata or {}
    assert metadata["class_names"] == ["setosa", "versicolor", "virginica"]
    assert set(metadata["feature_quantiles"]) == set(FEATURE_NAMES)
    assert len(metadata["smoke_sample"]["inputs"]) == len(metadata["smoke_sample"]["expected"])
    # The served form travels in the version's model directory.
    assert metadata["serving"]["runtime"] == "onnx"
    assert metadata["serving"]["input_dtype"] == "float64"
    location = client.get_model_version_download_uri(settings.model_name, first.version)
    model_files = {Path(item.path).name for item in client.list_artifacts(first.run_id, "model")}
    assert {"MLmodel", "model.onnx", "model.skops"} <= model_files
    assert location.rstrip("/").endswith("/model")


def test_refusals_then_gate_and_promotion(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        promote(settings, None)
    first = train_and_register(settings)
    assert_registry_contract(settings, first)

    with pytest.raises(RefusedError, match="no challenger"):
        promote(settings, None)
    with pytest.raises(RefusedError, match="never validated"):
        promote(settings, first.version)
    with pytest.raises(RefusedError, match="no previous"):
        rollback(settings)
    with pytest.raises(NotFoundError, match="no version 42"):
        promote(settings, "42")
    with pytest.raises(NotFoundError, match="no 'production' alias"):
        predict(settings, [5.1, 3.5, 1.4, 0.2])
    assert aliases(settings) == {}

    report = validate(settings, None, None, tmp_path)
    assert report.passed
    assert report.production_version is None
    assert {check.kind for check in report.checks} == {"threshold", "smoke", "onnx_parity"}
    parity = next(check for check in report.checks if check.kind == "onnx_parity")
    assert parity.detail.startswith("float64 ONNX form on 30 test rows: 0 rows with another")
    written = json.loads((tmp_path / "gate_report.json").read_text())
    assert written["passed"] is True
    assert aliases(settings) == {"challenger": first.version}
    client = MlflowClient(settings.tracking_uri)
    tags = client.get_model_version(settings.model_name, first.version).tags
    assert tags["gate"] == "passed"
    assert json.loads(tags["gate_report"])["version"] == first.version
    gate_artifacts = {item.path for item in client.list_artifacts(first.run_id, "gate")}
    assert gate_artifacts == {"gate/gate_report.json", "gate/gate_report.md"}

    move = promote(settings, None)
    assert (move.production, move.previous, move.changed) == (first.version, None, True)
    assert aliases(settings) == {"production": first.version}
    again = promote(settings, first.version)
    assert not again.changed
    assert aliases(settings) == {"production": first.version}
    with pytest.raises(BadConfigError, match="expects 4"):
        predict(settings, [5.1, 3.5, 1.4])
    assert predict(settings, [6.5, 3.0, 5.2, 2.0]).class_name == "virginica"
    assert cli(settings, "status") == ExitCode.OK
    table = capsys.readouterr().out
    assert f"aliases: production={first.version}" in table
    assert "passed" in table


def test_bad_candidates_are_rejected_and_production_stays(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = train_and_register(settings)
    assert validate(settings, None, good.version, None).passed
    promote(settings, None)

    degraded = train_and_register(settings, IRIS.with_params({"C": 0.001}))
    report = validate(settings, None, None, None)
    assert report.version == degraded.version
    assert not report.passed
    failing = {check.name for check in report.failing}
    assert {"threshold:accuracy", "regression:accuracy"} <= failing
    assert aliases(settings) == {"production": good.version}

    with pytest.raises(RefusedError, match="failed the gate"):
        promote(settings, degraded.version)
    assert cli(settings, "promote", "--version", degraded.version) == ExitCode.REFUSED
    assert "failed the gate" in capsys.readouterr().err
    assert aliases(settings) == {"production": good.version}

    # An unreachable bound rejects even the production model's twin; nothing moves.
    strict = tmp_path / "strict.toml"
    strict.write_text("[gate.metrics.accuracy]\nthreshold = 1.01\ngreater_is_better = true\n")
    twin = train_and_register(settings)
    code = cli(settings, "validate", "--version", twin.version, "--thresholds", str(strict))
    assert code == ExitCode.GATE_FAILED
    err = capsys.readouterr().err
    assert "threshold:accuracy" in err
    assert "aliases unchanged" in err
    assert aliases(settings) == {"production": good.version}
    assert cli(settings, "promote", "--version", "999") == ExitCode.NOT_FOUND


def test_a_different_input_signature_is_rejected(settings: Settings) -> None:
    production = train_and_register(settings)
    validate(settings, None, None, None)
    promote(settings, None)

    dataset = load_dataset(IRIS)
    narrower = dataset.features[list(FEATURE_NAMES[1:])]
    estimator = LogisticRegression(max_iter=500).fit(narrower, dataset.target)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_experiment(settings.experiment_name)
    with mlflow.start_run():
        mlflow.log_metrics({"accuracy": 0.99, "f1_macro": 0.99, "log_loss": 0.05})
        info = mlflow.sklearn.log_model(
            estimator,
            name="model",
            input_example=pd.DataFrame(narrower.head(2)),
            registered_model_name=settings.model_name,
        )
    report = validate(settings, None, str(info.registered_model_version), None)
    assert "signature" in {check.name for check in report.failing}
    # Logged without training's served form: the gate says how to fix it.
    parity = next(check for check in report.checks if check.kind == "onnx_parity")
    assert not parity.passed
    assert parity.detail.startswith("no served form: retrain")
    assert aliases(settings) == {"production": production.version}


def test_a_declared_contract_change_passes_with_a_warning_an_undeclared_one_fails(
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    production = train_and_register(settings)
    assert validate(settings, None, None, None).passed
    promote(settings, None)

    # The same model with renamed inputs: another API contract.
    models = tmp_path / "models"
    shutil.copytree(models_dir(), models)
    spec = models / "iris.toml"
    spec.write_text(spec.read_text().replace('"petal_width"]', '"petal_width_cm"]'))
    renamed = Catalog(models).get("IrisClassifier")
    undeclared = train_and_register(settings, renamed)
    report = validate(settings, None, undeclared.version, None, renamed)
    assert [check.name for check in report.failing] == ["signature"]
    assert "raise contract_version" in report.failing[0].detail

    spec.write_text(spec.read_text().replace("contract_version = 1", "contract_version = 2"))
    declared = train_and_register(settings, Catalog(models).get("IrisClassifier"))
    monkeypatch.setenv("MLSHIP_MODELS_DIR", str(models))  # the CLI reads the copy
    assert cli(settings, "validate", "--version", declared.version, "--json") == ExitCode.OK
    document = json.loads(capsys.readouterr().out)
    assert document["passed"] is True
    assert document["warnings"][0].startswith("signature: declared API contract change")
    tags = (
        MlflowClient(settings.tracking_uri)
        .get_model_version(settings.model_name, declared.version)
        .tags
    )
    assert tags["gate"] == "passed"
    assert aliases(settings) == {"production": production.version, "challenger": declared.version}
    markdown = GateReport.from_dict(json.loads(tags["gate_report"])).to_markdown()
    assert "Gate PASSED with warnings" in markdown
    assert "> **Warning** (signature): declared API contract change" in markdown
