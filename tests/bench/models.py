"""The bench's two registered models and the request bodies every server gets for them.

The models are registered by ``tests.support.models.register_model`` (the Iris
pipeline, and ``kind="forest"``: a 200-tree random forest on the breast-cancer
data). Their feature names come from the registered signature and their sample
rows from the MLmodel ``smoke_sample``, so every body is built the same way
for both. MLServer gets the very object that was registered, dumped with joblib.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import mlflow.models
import mlflow.sklearn

from tests.support.models import Kind, register_model

KEYS: tuple[Kind, ...] = ("iris", "forest")
NAMES: dict[Kind, str] = {"iris": "BenchIris", "forest": "BenchForest"}
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


def register(tracking_uri: str, key: Kind) -> BenchModel:
    """Register model ``key`` under its bench name, alias ``production``."""
    name = NAMES[key]
    version = register_model(tracking_uri, name, kind=key)
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
