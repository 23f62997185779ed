"""The bench's two registered models and the request bodies every server gets for them.

The models are the two the platform declares (``model/models``): ``IrisClassifier``
and ``BreastCancerForest`` (a 200-tree random forest on the breast-cancer data),
each trained, gated and promoted by the ``mlship`` CLI as a user would. Their
feature names come from the registered signature and their sample rows from the
MLmodel ``smoke_sample``, so every body is built the same way for both. MLServer
gets the very object that was registered, dumped with joblib.
"""

from __future__ import annotations

import io
import json
import os
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import mlflow.models
import mlflow.sklearn

from mlship.model.cli import main as mlship_cli
from tests.support.models import Kind

KEYS: tuple[Kind, ...] = ("iris", "forest")
NAMES: dict[Kind, str] = {"iris": "IrisClassifier", "forest": "BreastCancerForest"}
BATCH_ROWS = 1000


@dataclass(frozen=True)
class BenchModel:
    key: Kind  # "iris" or "forest": the ``model`` of the results
    name: str  # registered name, also the V2 model name of every server
    version: str
    features: list[str]
    rows: list[list[float]]  # sample rows; the first is the single row of every load

    @property
    def uri(self) -> str:
        return f"models:/{self.name}@production"

    @property
    def v2_path(self) -> str:
        return f"/v2/models/{self.name}/infer"

    def batch(self) -> list[list[float]]:
        return [self.rows[index % len(self.rows)] for index in range(BATCH_ROWS)]


def mlship(tracking_uri: str, key: Kind, command: str) -> dict[str, Any]:
    """``mlship COMMAND --model NAMES[key]`` in this process; its JSON answer."""
    # The model is named here: a MODEL_NAME from the caller's shell must not contradict it.
    shell = {name: os.environ.pop(name) for name in ("MODEL_NAME",) if name in os.environ}
    answer = io.StringIO()
    try:
        with redirect_stdout(answer):
            argv = [command, "--model", NAMES[key], "--tracking-uri", tracking_uri, "--json"]
            code = mlship_cli(argv)
    finally:
        os.environ.update(shell)
    if code != 0:
        raise SystemExit(f"bench: mlship {command} --model {NAMES[key]} failed (exit {code})")
    result: dict[str, Any] = json.loads(answer.getvalue())
    return result


def challenger(tracking_uri: str, key: Kind) -> str:
    """Train and gate a new version of model ``key``: the challenger's version."""
    version = str(mlship(tracking_uri, key, "train")["version"])
    mlship(tracking_uri, key, "validate")
    return version


def register(tracking_uri: str, key: Kind) -> BenchModel:
    """A new version of model ``key``, trained, gated and promoted to ``production``."""
    name, version = NAMES[key], challenger(tracking_uri, key)
    mlship(tracking_uri, key, "promote")
    info = mlflow.models.get_model_info(f"models:/{name}/{version}")
    sample = (info.metadata or {}).get("smoke_sample")
    if info.signature is None or not sample:
        raise SystemExit(f"bench: {name} v{version} has no signature or smoke_sample")
    rows = [[float(value) for value in row] for row in sample["inputs"]]
    return BenchModel(key, name, version, list(info.signature.inputs.input_names()), rows)


def dump_joblib(model: BenchModel, directory: Path) -> Path:
    """The registered pipeline itself, as ``model.joblib`` (what mlserver-sklearn loads)."""
    pipeline = mlflow.sklearn.load_model(f"models:/{model.name}/{model.version}")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "model.joblib"
    joblib.dump(pipeline, path)
    return path


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def predict_body(model: BenchModel) -> bytes:
    return encode({"features": model.rows[0]})


def batch_body(model: BenchModel) -> bytes:
    return encode({"instances": model.batch()})


def v2_body(model: BenchModel, rows: list[list[float]]) -> bytes:
    """One FP64 tensor [N, n_features], asking for class probabilities (api and mlserver)."""
    tensor = {
        "name": "input-0",
        "shape": [len(rows), len(model.features)],
        "datatype": "FP64",
        "data": [value for row in rows for value in row],
    }
    return encode({"inputs": [tensor], "outputs": [{"name": "predict_proba"}]})


def invocations_body(model: BenchModel, rows: list[list[float]]) -> bytes:
    """``mlflow models serve``'s ``/invocations`` body."""
    return encode({"dataframe_split": {"columns": model.features, "data": rows}})
