"""Register small, real Iris classifiers that follow the model artifact contract.

Suites that need a registered model (the API, observability) use
``register_model`` instead of the full training pipeline: it logs a
StandardScaler + LogisticRegression pipeline with ``mlflow.sklearn.log_model``,
a signature of named double columns, an input example and the MLmodel
``metadata`` the API relies on (``class_names``, ``feature_quantiles``,
``smoke_sample``), registers it and points an alias at it.
"""

from __future__ import annotations

import warnings
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ColSpec, Schema
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
EXPERIMENT = "mlship-test-models"
# Two rows per class: the first two of each class in the bundled data set.
SMOKE_ROWS = [0, 1, 50, 51, 100, 101]


def iris() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features, class indices and class names of sklearn's bundled Iris data."""
    data = load_iris()
    return (
        np.asarray(data.data, dtype=np.float64),
        np.asarray(data.target, dtype=np.int64),
        [str(name) for name in data.target_names],
    )


def train(*, degrade: bool = False) -> tuple[Pipeline, dict[str, Any]]:
    """A fitted pipeline and the MLmodel metadata describing it.

    ``degrade`` trains on shifted labels, so the model confidently predicts the
    wrong class for every row: it loads fine but fails the smoke check.
    """
    features, target, class_names = iris()
    labels = (target + 1) % len(class_names) if degrade else target
    pipeline = Pipeline(
        [("scale", StandardScaler()), ("classify", LogisticRegression(max_iter=500))]
    )
    pipeline.fit(features, labels)
    deciles = np.quantile(features, np.linspace(0.1, 0.9, 9), axis=0)
    metadata: dict[str, Any] = {
        "class_names": class_names,
        "feature_quantiles": {
            name: [round(float(value), 6) for value in deciles[:, index]]
            for index, name in enumerate(FEATURES)
        },
        "smoke_sample": {
            "inputs": features[SMOKE_ROWS].tolist(),
            "expected": target[SMOKE_ROWS].tolist(),
        },
    }
    return pipeline, metadata


def signature() -> ModelSignature:
    return ModelSignature(
        inputs=Schema([ColSpec("double", name) for name in FEATURES]),
        outputs=Schema([ColSpec("long")]),
    )


def _requirements() -> list[str]:
    return [
        f"{package}=={installed_version(package)}"
        for package in ("scikit-learn", "numpy", "cloudpickle")
    ]


def _example() -> pd.DataFrame:
    features, _, _ = iris()
    return pd.DataFrame(features[SMOKE_ROWS[::2]], columns=FEATURES)


def save_model_dir(
    path: Path, *, degrade: bool = False, serialization: str = "cloudpickle"
) -> Path:
    """Save the model as a local MLflow model directory (what an image bakes in)."""
    pipeline, metadata = train(degrade=degrade)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X has feature names")
        mlflow.sklearn.save_model(
            pipeline,
            str(path),
            signature=signature(),
            input_example=_example(),
            metadata=metadata,
            serialization_format=serialization,
            pip_requirements=_requirements(),
        )
    return path


def register_model(
    tracking_uri: str,
    name: str,
    *,
    alias: str | None = "production",
    degrade: bool = False,
) -> str:
    """Train, log and register a model version on ``tracking_uri``; return its version.

    When ``alias`` is given it is moved to the new version.
    """
    pipeline, metadata = train(degrade=degrade)
    # MLflow's fluent API (start_run, log_model) reads the process-wide tracking URI.
    # It stays set: restoring get_tracking_uri()'s answer would install the default
    # (a SQLite file in the working directory); the root conftest's autouse fixture
    # resets it after each test instead.
    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri, registry_uri=tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    experiment_id = (
        experiment.experiment_id if experiment is not None else client.create_experiment(EXPERIMENT)
    )
    with mlflow.start_run(experiment_id=experiment_id), warnings.catch_warnings():
        # MLflow predicts on the (named) input example; the pipeline was fitted on arrays.
        warnings.filterwarnings("ignore", message="X has feature names")
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=signature(),
            input_example=_example(),
            metadata=metadata,
            registered_model_name=name,
            # cloudpickle loads fast; explicit requirements skip MLflow's slow inference.
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
            pip_requirements=_requirements(),
        )
    version = str(info.registered_model_version)
    client.set_model_version_tag(name, version, "gate", "failed" if degrade else "passed")
    if alias is not None:
        client.set_registered_model_alias(name, alias, version)
    return version
