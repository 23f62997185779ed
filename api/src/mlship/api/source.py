"""Where models come from: the MLflow Model Registry or a local model directory.

A source answers two questions: which version should be served now
(``resolve``) and where its files are (``fetch``). Registry errors are split
into "the registry answered: no such model/alias" and "the registry could
not be reached", because only the second makes the service report an
unreachable registry.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")
NOT_FOUND_CODES = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}
REGISTRY_METADATA = "registered_model.json"


class NoModelError(Exception):
    """The registry answered, but the model, alias or version does not exist (yet)."""


class RegistryUnreachableError(Exception):
    """The registry could not be asked (down, timing out, answering errors)."""


@dataclass(frozen=True)
class ModelRef:
    """Identity of one model version."""

    name: str
    version: str
    run_id: str | None
    aliases: tuple[str, ...]
    source: str


class ModelSource(Protocol):
    uri: str
    uses_registry: bool

    def resolve(self) -> ModelRef: ...

    def fetch(self, ref: ModelRef, destination: Path) -> Path: ...


class RegistrySource:
    """``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` on an MLflow tracking server."""

    uses_registry = True

    def __init__(self, uri: str, tracking_uri: str | None) -> None:
        match = MODELS_URI.match(uri)
        if match is None:
            raise ValueError(f"model URI {uri!r} is not models:/NAME@ALIAS or models:/NAME/VERSION")
        self.uri = uri
        self.name = match["name"]
        self.alias: str | None = match["alias"]
        self.version: str | None = match["version"]
        self.tracking_uri = tracking_uri
        self._cached_client: Any = None

    def _client(self) -> Any:
        """One client for every poll (calls are serialised by the model manager)."""
        if self._cached_client is None:
            # Imported here: mlflow is slow to import and only this source needs it.
            from mlflow import MlflowClient  # noqa: PLC0415

            self._cached_client = MlflowClient(
                tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri
            )
        return self._cached_client

    def resolve(self) -> ModelRef:
        from mlflow.exceptions import MlflowException  # noqa: PLC0415

        client = self._client()
        try:
            if self.alias is not None:
                found = client.get_model_version_by_alias(self.name, self.alias)
            else:
                found = client.get_model_version(self.name, str(self.version))
        except MlflowException as error:
            if error.error_code in NOT_FOUND_CODES:
                raise NoModelError(f"{self.uri}: {error.message}") from error
            raise RegistryUnreachableError(f"{self.uri}: {error.message}") from error
        except OSError as error:
            raise RegistryUnreachableError(f"{self.uri}: {error}") from error
        return ModelRef(
            name=self.name,
            version=str(found.version),
            run_id=found.run_id,
            aliases=tuple(sorted(getattr(found, "aliases", []) or [])),
            source=self.uri,
        )

    def fetch(self, ref: ModelRef, destination: Path) -> Path:
        from mlflow.artifacts import download_artifacts  # noqa: PLC0415

        client = self._client()
        artifact_uri = client.get_model_version_download_uri(ref.name, ref.version)
        local = download_artifacts(
            artifact_uri=artifact_uri, dst_path=str(destination), tracking_uri=self.tracking_uri
        )
        return Path(local)


class LocalSource:
    """An MLflow model directory on disk (a model baked into an image).

    Name, version and run ID come from ``registered_model.json`` beside the
    MLmodel file when present (``mlship-api fetch`` writes it).
    """

    uses_registry = False

    def __init__(self, directory: Path) -> None:
        if not (directory / "MLmodel").is_file():
            raise ValueError(f"{directory} is not an MLflow model directory (no MLmodel file)")
        self.directory = directory
        self.uri = str(directory)

    def resolve(self) -> ModelRef:
        facts: dict[str, object] = {}
        sidecar = self.directory / REGISTRY_METADATA
        if sidecar.is_file():
            facts = json.loads(sidecar.read_text())
        mlmodel = yaml.safe_load((self.directory / "MLmodel").read_text()) or {}
        return ModelRef(
            name=str(facts.get("name") or self.directory.resolve().name),
            version=str(facts.get("version") or mlmodel.get("model_uuid") or "local"),
            run_id=str(facts.get("run_id") or mlmodel.get("run_id") or "") or None,
            aliases=tuple(str(alias) for alias in facts.get("aliases", []) or []),  # type: ignore[attr-defined]
            source=str(facts.get("source") or self.uri),
        )

    def fetch(self, ref: ModelRef, destination: Path) -> Path:
        return self.directory


def source_for(uri: str, tracking_uri: str | None) -> ModelSource:
    """The source a model URI names."""
    if uri.startswith("models:/"):
        return RegistrySource(uri, tracking_uri)
    path = Path(uri.removeprefix("file://"))
    return LocalSource(path)


def write_registry_metadata(ref: ModelRef, directory: Path) -> None:
    """Record where a fetched model came from, for ``LocalSource``."""
    facts = {
        "name": ref.name,
        "version": ref.version,
        "run_id": ref.run_id,
        "aliases": list(ref.aliases),
        "source": ref.source,
    }
    (directory / REGISTRY_METADATA).write_text(json.dumps(facts, indent=2) + "\n")
