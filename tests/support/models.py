"""Register small, real classifiers that follow the model artifact contract.

Suites that need a registered model (the API, observability, the bench) use
``register_model`` instead of the full training pipeline. Two kinds:

- ``iris``: StandardScaler + LogisticRegression on Iris (4 features);
- ``forest``: a 200-tree RandomForestClassifier on scikit-learn's bundled
  breast-cancer data (30 features, names made identifiers such as ``mean_radius``).

Each is saved the way training saves a model: ``mlflow.sklearn.save_model`` with a
signature of named double columns, an input example and the MLmodel ``metadata``
the API relies on (``class_names``, ``feature_names``, ``feature_quantiles``,
``smoke_sample``), then its served form (``model.onnx``, ``metadata.serving``) is
added, the directory is logged as a run's ``model`` artifacts and registered, and
an alias is pointed at the new version.
"""

from __future__ import annotations

import re
import tempfile
import warnings
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any, Literal

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ColSpec, Schema
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mlship.model.manifest import MODEL_DIR
from mlship.model.registry_io import create_version
from mlship.model.served_form import add_served_form
from mlship.model.training import SKOPS_TRUSTED_TYPES

Kind = Literal["iris", "forest"]
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
EXPERIMENT = "mlship-test-models"
# Two rows per class: the first two of each class in the bundled data set.
SMOKE_ROWS = [0, 1, 50, 51, 100, 101]
# Three rows per class of the breast-cancer data (malignant, then benign).
FOREST_SMOKE_ROWS = [0, 1, 2, 19, 20, 21]


def _identifier(name: str) -> str:
    return re.sub(r"\W+", "_", name.strip()).lower()


FOREST_FEATURES = [_identifier(str(name)) for name in load_breast_cancer().feature_names]


def _bundled(data: Any) -> tuple[np.ndarray, np.ndarray, list[str]]:
    return (
        np.asarray(data.data, dtype=np.float64),
        np.asarray(data.target, dtype=np.int64),
        [str(name) for name in data.target_names],
    )


def iris() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features, class indices and class names of sklearn's bundled Iris data."""
    return _bundled(load_iris())


def forest() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features (columns ``FOREST_FEATURES``), class indices and class names of breast cancer."""
    return _bundled(load_breast_cancer())


def features_of(kind: Kind) -> list[str]:
    return FEATURES if kind == "iris" else FOREST_FEATURES


def _metadata(
    kind: Kind, features: np.ndarray, target: np.ndarray, class_names: list[str]
) -> dict[str, Any]:
    rows = SMOKE_ROWS if kind == "iris" else FOREST_SMOKE_ROWS
    deciles = np.quantile(features, np.linspace(0.1, 0.9, 9), axis=0)
    return {
        "class_names": class_names,
        "feature_names": features_of(kind),
        "feature_quantiles": {
            name: [round(float(value), 6) for value in deciles[:, index]]
            for index, name in enumerate(features_of(kind))
        },
        "smoke_sample": {"inputs": features[rows].tolist(), "expected": target[rows].tolist()},
    }


def train(*, degrade: bool = False, kind: Kind = "iris") -> tuple[Pipeline, dict[str, Any]]:
    """A fitted pipeline and the MLmodel metadata describing it.

    ``degrade`` trains on shifted labels, so the model confidently predicts the
    wrong class for every row: it loads fine but fails the smoke check.
    """
    features, target, class_names = iris() if kind == "iris" else forest()
    labels = (target + 1) % len(class_names) if degrade else target
    pipeline = (
        Pipeline([("scale", StandardScaler()), ("classify", LogisticRegression(max_iter=500))])
        if kind == "iris"
        else Pipeline([("classify", RandomForestClassifier(n_estimators=200, random_state=0))])
    )
    pipeline.fit(features, labels)
    return pipeline, _metadata(kind, features, target, class_names)


def train_forest(*, degrade: bool = False) -> tuple[Pipeline, dict[str, Any]]:
    """The fitted forest pipeline (fitted on arrays of ``FOREST_FEATURES``) and its metadata.

    Deterministic (``random_state=0``): the bench dumps this very object for other servers.
    """
    return train(degrade=degrade, kind="forest")


def signature(kind: Kind = "iris") -> ModelSignature:
    return ModelSignature(
        inputs=Schema([ColSpec("double", name) for name in features_of(kind)]),
        outputs=Schema([ColSpec("long")]),
    )


def _requirements() -> list[str]:
    return [
        f"{package}=={installed_version(package)}"
        for package in ("scikit-learn", "numpy", "cloudpickle", "onnxruntime")
    ]


def _example(kind: Kind) -> pd.DataFrame:
    features, _, _ = iris() if kind == "iris" else forest()
    rows = (SMOKE_ROWS if kind == "iris" else FOREST_SMOKE_ROWS)[::2]
    return pd.DataFrame(features[rows], columns=features_of(kind))


def save_model_dir(
    path: Path, *, degrade: bool = False, serialization: str = "cloudpickle", kind: Kind = "iris"
) -> Path:
    """Save the model as a local MLflow model directory with its served form (what an
    image bakes in); cloudpickle by default: it loads fast."""
    pipeline, metadata = train(degrade=degrade, kind=kind)
    with warnings.catch_warnings():
        # MLflow predicts on the (named) input example; the pipeline was fitted on arrays.
        warnings.filterwarnings("ignore", message="X has feature names")
        mlflow.sklearn.save_model(
            pipeline,
            str(path),
            signature=signature(kind),
            input_example=_example(kind),
            metadata=metadata,
            serialization_format=serialization,
            pip_requirements=_requirements(),
            skops_trusted_types=SKOPS_TRUSTED_TYPES if serialization == "skops" else None,
        )
    features, _, _ = iris() if kind == "iris" else forest()
    add_served_form(path, pipeline, features.shape[1], sample=features)
    return path


def register_model(
    tracking_uri: str,
    name: str,
    *,
    alias: str | None = "production",
    degrade: bool = False,
    kind: Kind = "iris",
) -> str:
    """Train, log and register a model version on ``tracking_uri``; return its version.

    When ``alias`` is given it is moved to the new version.
    """
    # Callers load `models:/` URIs with MLflow's fluent API, which reads the process-wide
    # tracking URI. It stays set: restoring get_tracking_uri()'s answer would install the
    # default (a SQLite file in the working directory); the root conftest's autouse
    # fixture resets it after each test instead.
    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri, registry_uri=tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    experiment_id = (
        experiment.experiment_id if experiment is not None else client.create_experiment(EXPERIMENT)
    )
    run_id = client.create_run(experiment_id, run_name=f"test-{kind}").info.run_id
    with tempfile.TemporaryDirectory(prefix="mlship-test-model-") as scratch:
        model_dir = save_model_dir(Path(scratch) / MODEL_DIR, degrade=degrade, kind=kind)
        client.log_artifacts(run_id, str(model_dir), artifact_path=MODEL_DIR)
    client.set_terminated(run_id)
    version = create_version(client, name, run_id, {"kind": kind})
    client.set_model_version_tag(name, version, "gate", "failed" if degrade else "passed")
    if alias is not None:
        client.set_registered_model_alias(name, alias, version)
    return version
