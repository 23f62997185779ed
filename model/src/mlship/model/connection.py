"""Connecting to the tracking server: reachability first, then MLflow's client."""

from __future__ import annotations

import mlflow
from mlflow.tracking import MlflowClient

from mlship.model.reachability import wait_for_tracking_server
from mlship.model.settings import Settings
from mlship.model.uris import public_uri


def connect(settings: Settings) -> MlflowClient:
    """Check the server answers, point MLflow's fluent API at it and return a client."""
    wait_for_tracking_server(settings.tracking_uri, settings.connect_timeout_seconds)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


def ui_url(settings: Settings, model_name: str, version: str) -> str:
    """Where a person finds this model version in the MLflow UI."""
    base = public_uri(settings.tracking_uri).rstrip("/")
    return f"{base}/#/models/{model_name}/versions/{version}"
