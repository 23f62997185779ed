"""Reading an MLflow sklearn model directory without pandas or the pyfunc machinery.

The API needs four things from the artifact: the estimator, the input
signature (ordered feature names), the class names and the MLmodel
``metadata`` (feature quantiles and the smoke sample).
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

NUMERIC_TYPES = {"double", "float", "long", "integer"}


class ArtifactError(Exception):
    """The model directory does not hold a model this service can serve."""


@dataclass(frozen=True)
class Artifact:
    """What a model directory holds, loaded and checked."""

    estimator: Any
    features: tuple[str, ...]
    class_names: tuple[str, ...]
    feature_quantiles: dict[str, np.ndarray]
    smoke_inputs: np.ndarray | None
    smoke_expected: np.ndarray | None
    signature: dict[str, Any]
    run_id: str | None
    metadata: dict[str, Any] = field(default_factory=dict)


def _read_mlmodel(directory: Path) -> dict[str, Any]:
    path = directory / "MLmodel"
    if not path.is_file():
        raise ArtifactError(f"{directory} has no MLmodel file: not an MLflow model directory")
    document = yaml.safe_load(path.read_text())
    if not isinstance(document, dict):
        raise ArtifactError(f"{path} is not a YAML mapping")
    return document


def _features(mlmodel: dict[str, Any]) -> tuple[tuple[str, ...], dict[str, Any]]:
    signature = mlmodel.get("signature") or {}
    raw_inputs = signature.get("inputs")
    if not raw_inputs:
        raise ArtifactError("the model has no input signature: log it with a signature")
    inputs = json.loads(raw_inputs)
    names: list[str] = []
    for column in inputs:
        if column.get("type") not in NUMERIC_TYPES or not column.get("name"):
            raise ArtifactError(
                f"input {column} is not a named numeric column: the API serves tabular models"
            )
        names.append(str(column["name"]))
    outputs = json.loads(signature["outputs"]) if signature.get("outputs") else None
    return tuple(names), {"inputs": inputs, "outputs": outputs}


def _load_estimator(directory: Path, mlmodel: dict[str, Any]) -> Any:
    flavor = (mlmodel.get("flavors") or {}).get("sklearn")
    if flavor is None:
        raise ArtifactError("the model has no sklearn flavor")
    path = directory / str(flavor.get("pickled_model", "model.pkl"))
    serialization = flavor.get("serialization_format", "cloudpickle")
    if serialization == "skops":
        # Imported only for skops artifacts: skops is slow to import.
        import skops.io  # type: ignore[import-untyped]  # noqa: PLC0415

        return skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
    with path.open("rb") as handle:
        # The registry is the trust boundary: only registered, gated models are loaded.
        if serialization == "cloudpickle":
            import cloudpickle  # noqa: PLC0415

            return cloudpickle.load(handle)
        if serialization == "pickle":
            return pickle.load(handle)  # noqa: S301
    raise ArtifactError(f"unknown sklearn serialization format {serialization!r}")


def _class_names(metadata: dict[str, Any], estimator: Any) -> tuple[str, ...]:
    names = metadata.get("class_names")
    classes = getattr(estimator, "classes_", None)
    if names is None:
        if classes is None:
            raise ArtifactError("no class_names in the metadata and the estimator has no classes_")
        return tuple(str(label) for label in classes)
    if classes is not None and len(classes) != len(names):
        raise ArtifactError(
            f"metadata class_names has {len(names)} names, the estimator {len(classes)} classes"
        )
    return tuple(str(name) for name in names)


def _input_example(directory: Path, features: tuple[str, ...]) -> np.ndarray | None:
    path = directory / "input_example.json"
    if not path.is_file():
        return None
    example = json.loads(path.read_text())
    if isinstance(example, dict) and "data" in example:
        columns = example.get("columns") or list(features)
        order = [columns.index(name) for name in features]
        return np.asarray(example["data"], dtype=np.float64)[:, order]
    return None


def load_artifact(directory: Path) -> Artifact:
    """Load and check the model in ``directory`` (an MLflow model directory)."""
    mlmodel = _read_mlmodel(directory)
    features, signature = _features(mlmodel)
    metadata = mlmodel.get("metadata") or {}
    estimator = _load_estimator(directory, mlmodel)
    if not hasattr(estimator, "predict_proba"):
        raise ArtifactError(f"{type(estimator).__name__} has no predict_proba: not a classifier")
    fitted_names = getattr(estimator, "feature_names_in_", None)
    if fitted_names is not None and tuple(str(name) for name in fitted_names) != features:
        raise ArtifactError(
            f"the estimator was fitted on columns {list(fitted_names)}, "
            f"the signature names {list(features)}"
        )
    quantiles = {
        name: np.asarray(values, dtype=np.float64)
        for name, values in (metadata.get("feature_quantiles") or {}).items()
        if name in features
    }
    smoke = metadata.get("smoke_sample") or {}
    smoke_inputs: np.ndarray | None = None
    smoke_expected: np.ndarray | None = None
    if smoke.get("inputs"):
        smoke_inputs = np.asarray(smoke["inputs"], dtype=np.float64)
        smoke_expected = np.asarray(smoke.get("expected"), dtype=np.int64)
    else:
        smoke_inputs = _input_example(directory, features)
    if smoke_inputs is not None and smoke_inputs.shape[1:] != (len(features),):
        raise ArtifactError(
            f"smoke sample rows have shape {smoke_inputs.shape[1:]}, the signature "
            f"has {len(features)} features"
        )
    return Artifact(
        estimator=estimator,
        features=features,
        class_names=_class_names(metadata, estimator),
        feature_quantiles=quantiles,
        smoke_inputs=smoke_inputs,
        smoke_expected=smoke_expected,
        signature=signature,
        run_id=mlmodel.get("run_id"),
        metadata=metadata,
    )
