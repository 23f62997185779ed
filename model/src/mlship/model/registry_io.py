"""Registry look-ups shared by the lifecycle commands, with MLflow errors made plain."""

from __future__ import annotations

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlship.model.errors import NotFoundError

ALIASES: tuple[str, ...] = ("production", "challenger", "previous")


def _missing(error: MlflowException) -> bool:
    return (
        error.error_code in {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}
        or "not found" in str(error).lower()
    )


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
