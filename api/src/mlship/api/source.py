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
from typing import Protocol

from mlship.api.model_files import read_mlmodel
from mlship.api.registry import NoModelError, RegistryClient, RegistryUnreachableError

MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")
REGISTRY_METADATA = "registered_model.json"
__all__ = ["NoModelError", "RegistryUnreachableError"]


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

    def __init__(self, uri: str, tracking_uri: str | None, timeout: float = 5.0) -> None:
        match = MODELS_URI.match(uri)
        if match is None:
            raise ValueError(f"model URI {uri!r} is not models:/NAME@ALIAS or models:/NAME/VERSION")
        self.uri, self.name = uri, match["name"]
        self.alias: str | None = match["alias"]
        self.version: str | None = match["version"]
        self.client = RegistryClient(tracking_uri or "", timeout)

    def resolve(self) -> ModelRef:
        found = self.client.version(self.name, self.alias, self.version)
        if "version" not in found:
            raise RegistryUnreachableError(f"{self.uri}: the registry's answer names no version")
        return ModelRef(
            name=self.name,
            version=str(found["version"]),
            run_id=found.get("run_id") or None,
            aliases=tuple(sorted(found.get("aliases") or [])),
            source=self.uri,
        )

    def fetch(self, ref: ModelRef, destination: Path) -> Path:
        target = destination / "model"
        self.client.download(self.client.artifact_path(ref.name, ref.version), target)
        return target


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
        mlmodel = read_mlmodel(self.directory)
        return ModelRef(
            name=str(facts.get("name") or self.directory.resolve().name),
            version=str(facts.get("version") or mlmodel.get("model_uuid") or "local"),
            run_id=str(facts.get("run_id") or mlmodel.get("run_id") or "") or None,
            aliases=tuple(str(alias) for alias in facts.get("aliases", []) or []),  # type: ignore[attr-defined]
            source=str(facts.get("source") or self.uri),
        )

    def fetch(self, ref: ModelRef, destination: Path) -> Path:
        return self.directory


def source_for(uri: str, tracking_uri: str | None, timeout: float = 5.0) -> ModelSource:
    """The source a model URI names."""
    if uri.startswith("models:/"):
        return RegistrySource(uri, tracking_uri, timeout)
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
