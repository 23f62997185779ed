"""The real ``mlship`` console script, as a user runs it, against a real tracking server."""

from __future__ import annotations

import functools
import json
import os
import subprocess
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mlship.model.registry import promote
from mlship.model.settings import Settings
from mlship.model.training import train_and_register
from mlship.model.validation import validate
from tests.support.components import free_port, venv_bin
from tests.support.mlflow_server import MlflowServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def mlship(
    uri: str, model_name: str, *argv: str, expect: int = 0
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "MODEL_NAME": model_name,
        "MLSHIP_EXPERIMENT_NAME": f"exp-{model_name}",
    }
    completed = subprocess.run(
        [venv_bin("mlship"), *argv],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == expect, completed.stdout + completed.stderr
    assert "Traceback" not in completed.stderr
    return completed


def test_train_validate_promote_status_rollback_predict(
    mlflow_server: MlflowServer, model_name: str, tmp_path: Path
) -> None:
    run = functools.partial(mlship, mlflow_server.uri, model_name)
    client = MlflowClient(mlflow_server.uri)

    trained = json.loads(run("train", "--json").stdout)
    assert trained["version"] == "1"
    gate = run("validate", "--report-dir", str(tmp_path))
    assert "Gate PASSED" in gate.stdout
    assert json.loads((tmp_path / "gate_report.json").read_text())["passed"] is True
    assert "promoted version 1" in run("promote").stdout

    # A second candidate, registered and promoted in-process to keep the suite short.
    settings = Settings(
        tracking_uri=mlflow_server.uri, model_name=model_name, experiment_name=f"exp-{model_name}"
    )
    second = train_and_register(settings)
    assert validate(settings, None, None, None).passed
    promote(settings, None)

    status = json.loads(run("status", "--json").stdout)
    assert status["aliases"] == {"production": second.version, "previous": "1"}
    assert [row["version"] for row in status["versions"]] == [second.version, "1"]
    assert all(row["gate"] == "passed" for row in status["versions"])
    assert set(status["versions"][0]["metrics"]) == {"accuracy", "f1_macro", "log_loss"}

    assert "rolled back production to version 1" in run("rollback").stdout
    assert dict(client.get_registered_model(model_name).aliases) == {
        "production": "1",
        "previous": second.version,
    }

    predicted = run("predict", "--features", "5.1,3.5,1.4,0.2").stdout
    assert "prediction:    setosa" in predicted
    assert "(version 1)" in predicted
    assert f"{mlflow_server.uri}/#/models/{model_name}/versions/1" in predicted


def test_unreachable_server_gives_one_clear_line(model_name: str) -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    failed = mlship(uri, model_name, "status", "--connect-timeout", "1", expect=3)
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1
    assert uri in lines[0]
    assert "unreachable" in lines[0]


def test_unknown_model_is_reported(mlflow_server: MlflowServer, model_name: str) -> None:
    failed = mlship(mlflow_server.uri, model_name, "status", expect=4)
    assert f"registered model '{model_name}' does not exist" in failed.stderr
