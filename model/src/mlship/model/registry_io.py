"""Registry look-ups shared by the lifecycle commands, with MLflow errors made plain."""

from __future__ import annotations

import time
from pathlib import Path

import mlflow.artifacts
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlship.model.errors import MlshipError, NotFoundError
from mlship.model.manifest import MODEL_DIR

ALIASES: tuple[str, ...] = ("production", "challenger", "previous")
_READY_TIMEOUT_SECONDS = 300.0


def _missing(error: MlflowException) -> bool:
    return (
        error.error_code in {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}
        or "not found" in str(error).lower()
    )


def set_alias(client: MlflowClient, name: str, alias: str, version: str) -> None:
    """Point ``alias`` at ``version``, once more if a concurrent writer raced this one.

    MLflow's SQL store moves an alias with a read-then-insert: two clients moving the
    same alias at once (two pull requests gating on one registry) can collide on the
    alias' primary key and one gets a BAD_REQUEST. Moving an alias is idempotent, so
    the loser writes again; any other refusal fails the same way twice and is raised.
    """
    try:
        client.set_registered_model_alias(name, alias, version)
    except MlflowException:
        time.sleep(0.2)
        client.set_registered_model_alias(name, alias, version)


def require_model(client: MlflowClient, name: str) -> None:
    try:
        client.get_registered_model(name)
    except MlflowException as error:
        if _missing(error):
            raise NotFoundError(
                f"registered model {name!r} does not exist (train it first)"
            ) from None
        raise


def get_version(client: MlflowClient, name: str, version: str) -> ModelVersion:
    require_model(client, name)
    try:
        return client.get_model_version(name, version)
    except MlflowException as error:
        if _missing(error) or error.error_code == "INVALID_PARAMETER_VALUE":
            raise NotFoundError(f"model {name!r} has no version {version}") from None
        raise


def alias_version(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version ``alias`` points at, or None when the alias is not set."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as error:
        if _missing(error) or error.error_code == "INVALID_PARAMETER_VALUE":
            return None
        raise


def all_versions(client: MlflowClient, name: str) -> list[ModelVersion]:
    """Every version of ``name``, newest first."""
    require_model(client, name)
    versions = list(client.search_model_versions(name_filter(name)))
    return sorted(versions, key=lambda version: int(version.version), reverse=True)


def latest_version(client: MlflowClient, name: str) -> ModelVersion:
    versions = all_versions(client, name)
    if not versions:
        raise NotFoundError(f"registered model {name!r} has no versions (train it first)")
    return versions[0]


def name_filter(name: str) -> str:
    """A search filter matching the model ``name`` exactly."""
    return "name = '" + name.replace("'", "\\'") + "'"


def _wait_until_ready(client: MlflowClient, name: str, version: str) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
    while (status := client.get_model_version(name, version).status) != "READY":
        if status == "FAILED_REGISTRATION" or time.monotonic() > deadline:
            raise MlshipError(f"version {version} of {name!r} did not become READY ({status})")
        time.sleep(1.0)


def create_version(client: MlflowClient, name: str, run_id: str, tags: dict[str, str]) -> str:
    """Register the model directory the run logged under ``MODEL_DIR``; return the version.

    Training and ``register`` both log a model directory as run artifacts (training
    adds the ONNX file before logging) and create the version from it here.
    """
    try:
        client.create_registered_model(name)
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    created = client.create_model_version(
        name,
        f"runs:/{run_id}/{MODEL_DIR}",
        run_id=run_id,
        tags=tags,
        await_creation_for=0,
    )
    _wait_until_ready(client, name, created.version)
    return str(created.version)


def download_model(
    client: MlflowClient, tracking_uri: str, version: ModelVersion, to: Path
) -> Path:
    """The version's model directory, downloaded into ``to``; returns where it landed.

    The version's own artifact location: ``models:/`` URIs would go through MLflow's
    process-wide registry and add a registered_model_meta file that is not the model's.
    A directory downloads under its own last name (``artifacts``, ``model``...).
    """
    location = client.get_model_version_download_uri(version.name, version.version)
    return Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=location, dst_path=str(to), tracking_uri=tracking_uri
        )
    )
