"""Load the served model from the registry and classify one row (the demo's last step)."""

from __future__ import annotations

from dataclasses import dataclass

import mlflow.sklearn
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import get_model_info

from mlship.model.connection import connect, ui_url
from mlship.model.errors import BadConfigError, NotFoundError
from mlship.model.registry_io import alias_version, require_model
from mlship.model.settings import Settings


@dataclass(frozen=True)
class Prediction:
    model_name: str
    version: str
    model_uri: str
    features: dict[str, float]
    class_name: str
    probabilities: dict[str, float]
    ui_url: str


def predict(settings: Settings, row: list[float], alias: str = "production") -> Prediction:
    client = connect(settings)
    name = settings.model_name
    require_model(client, name)
    version = alias_version(client, name, alias)
    if version is None:
        raise NotFoundError(f"{name!r} has no {alias!r} alias; promote a version first")
    # Pin the version the alias resolved to, so the answer names the model that gave it.
    model_uri = f"models:/{name}/{version.version}"
    try:
        info = get_model_info(model_uri)
        model = mlflow.sklearn.load_model(model_uri)
    except MlflowException as error:
        raise NotFoundError(f"cannot load {model_uri}: {error.message}") from None
    signature = info.signature
    feature_names = signature.inputs.input_names() if signature is not None else None
    if not feature_names:
        feature_names = [f"feature_{index}" for index in range(len(row))]
    if len(row) != len(feature_names):
        raise BadConfigError(
            f"--features has {len(row)} values, the model expects {len(feature_names)} "
            f"({', '.join(feature_names)})"
        )
    frame = pd.DataFrame([row], columns=feature_names, dtype="float64")
    probabilities = model.predict_proba(frame)[0]
    class_names = (info.metadata or {}).get("class_names") or [str(c) for c in model.classes_]
    best = int(probabilities.argmax())
    return Prediction(
        model_name=name,
        version=version.version,
        model_uri=f"models:/{name}@{alias}",
        features=dict(zip(feature_names, row, strict=True)),
        class_name=str(class_names[best]),
        probabilities={str(c): float(p) for c, p in zip(class_names, probabilities, strict=True)},
        ui_url=ui_url(settings, name, version.version),
    )
