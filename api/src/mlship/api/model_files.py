"""An MLflow model directory as the service reads it: the MLmodel file, nothing imported.

The service needs the input signature (ordered feature names), the class names,
the drift reference and smoke sample (``metadata``) and the served form
(``metadata.serving``, written at training: the ONNX file and its input, or
why the model is served by scikit-learn). The model itself is loaded by a
runtime (``runtime.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

NUMERIC_TYPES = {"double", "float", "long", "integer"}


class ArtifactError(Exception):
    """The model directory does not hold a model this service can serve."""


@dataclass(frozen=True)
class ModelFiles:
    """What a model directory says about its model, checked."""

    directory: Path
    features: tuple[str, ...]
    class_names: tuple[str, ...]
    feature_quantiles: dict[str, np.ndarray]
    smoke_inputs: np.ndarray | None
    smoke_expected: np.ndarray | None
    signature: dict[str, Any]
    run_id: str | None
    serving: dict[str, Any]
    flavors: dict[str, Any]


def read_mlmodel(directory: Path) -> dict[str, Any]:
    path = directory / "MLmodel"
    if not path.is_file():
        raise ArtifactError(f"{directory} has no MLmodel file: not an MLflow model directory")
    document = yaml.safe_load(path.read_text())
    if not isinstance(document, dict):
        raise ArtifactError(f"{path} is not a YAML mapping")
    return document


def _signature(mlmodel: dict[str, Any]) -> tuple[tuple[str, ...], dict[str, Any]]:
    signature = mlmodel.get("signature") or {}
    if not signature.get("inputs"):
        raise ArtifactError("the model has no input signature: log it with a signature")
    inputs = json.loads(signature["inputs"])
    names: list[str] = []
    for column in inputs:
        if column.get("type") not in NUMERIC_TYPES or not column.get("name"):
            raise ArtifactError(
                f"input {column} is not a named numeric column: the API serves tabular models"
            )
        names.append(str(column["name"]))
    outputs = json.loads(signature["outputs"]) if signature.get("outputs") else None
    return tuple(names), {"inputs": inputs, "outputs": outputs}


def _smoke(metadata: dict[str, Any], width: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    smoke = metadata.get("smoke_sample") or {}
    if not smoke.get("inputs"):
        return None, None
    inputs = np.asarray(smoke["inputs"], dtype=np.float64)
    if inputs.ndim != 2 or inputs.shape[1] != width:
        raise ArtifactError(
            f"smoke sample rows have shape {inputs.shape[1:]}, the signature has {width} features"
        )
    expected = smoke.get("expected")
    return inputs, None if expected is None else np.asarray(expected, dtype=np.int64)


def read_model_files(directory: Path) -> ModelFiles:
    """Read and check the MLmodel file of ``directory``."""
    mlmodel = read_mlmodel(directory)
    features, signature = _signature(mlmodel)
    metadata = mlmodel.get("metadata") or {}
    class_names = metadata.get("class_names")
    if not class_names:
        raise ArtifactError("the model's metadata names no class_names: log them at training")
    smoke_inputs, smoke_expected = _smoke(metadata, len(features))
    return ModelFiles(
        directory=directory,
        features=features,
        class_names=tuple(str(name) for name in class_names),
        feature_quantiles={
            name: np.asarray(values, dtype=np.float64)
            for name, values in (metadata.get("feature_quantiles") or {}).items()
            if name in features
        },
        smoke_inputs=smoke_inputs,
        smoke_expected=smoke_expected,
        signature=signature,
        run_id=mlmodel.get("run_id"),
        serving=dict(metadata.get("serving") or {}),
        flavors=dict(mlmodel.get("flavors") or {}),
    )
