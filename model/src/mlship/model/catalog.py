"""The declared models: the specification files under ``model/models/`` and their choice.

``MLSHIP_MODELS_DIR`` names the directory; without it, the ``models`` directory of
this project (an editable install, the repository) or ``model/models`` under the
working directory. Files whose name starts with ``_`` are shared, not models:
``_defaults.toml`` holds what every specification inherits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mlship.model.config_files import problems, read_toml
from mlship.model.errors import BadConfigError, UsageError
from mlship.model.settings import Settings
from mlship.model.spec import ModelSpec

DEFAULT_MODEL = "IrisClassifier"
DEFAULTS_FILE = "_defaults.toml"
_WHAT = "model specification"


def models_dir() -> Path:
    configured = os.environ.get("MLSHIP_MODELS_DIR", "").strip()
    if configured:
        return Path(configured)
    # model/src/mlship/model/catalog.py -> model/models in a checkout (editable install).
    beside = Path(__file__).resolve().parents[3] / "models"
    return beside if beside.is_dir() else Path.cwd() / "model" / "models"


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``, table by table (arrays and values replace)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def shown(path: Path) -> str:
    """``path`` relative to the working directory when under it: reports name no machine."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def parse_spec(path: Path, defaults: dict[str, Any] | None = None) -> ModelSpec:
    """The specification in ``path`` over ``defaults``; BadConfigError naming file and field."""
    document = _merged(defaults or {}, read_toml(path, _WHAT))
    try:
        return ModelSpec.model_validate({**document, "source": shown(path)})
    except ValidationError as error:
        raise BadConfigError(f"{_WHAT} {shown(path)}: {problems(error)}") from None


@dataclass(frozen=True)
class Catalog:
    directory: Path

    @classmethod
    def discover(cls) -> Catalog:
        return cls(models_dir())

    def files(self) -> list[Path]:
        if not self.directory.is_dir():
            raise BadConfigError(
                f"no model specifications: {self.directory} is not a directory "
                "(set MLSHIP_MODELS_DIR, or run from the repository root)"
            )
        return sorted(p for p in self.directory.glob("*.toml") if not p.name.startswith("_"))

    def defaults(self) -> dict[str, Any]:
        path = self.directory / DEFAULTS_FILE
        return read_toml(path, "shared defaults") if path.is_file() else {}

    def specs(self) -> list[ModelSpec]:
        """Every declared model, checked (the first invalid file raises)."""
        defaults = self.defaults()
        specs = [parse_spec(path, defaults) for path in self.files()]
        seen: dict[str, str] = {}
        for spec in specs:
            if spec.name in seen:
                raise BadConfigError(
                    f"{_WHAT} {spec.source}: name {spec.name!r} is already declared by "
                    f"{seen[spec.name]}"
                )
            seen[spec.name] = spec.source
        return specs

    def get(self, name: str) -> ModelSpec:
        return _named({spec.name: spec for spec in self.specs()}, name)


def _named(specs: dict[str, ModelSpec], name: str) -> ModelSpec:
    if name not in specs:
        known = ", ".join(sorted(specs)) or "none"
        raise UsageError(f"unknown model {name!r}: the declared models are {known}")
    return specs[name]


def select(settings: Settings, catalog: Catalog | None = None) -> tuple[ModelSpec, Settings]:
    """The specification the command acts on, and ``settings`` completed from it.

    ``--model``/``MLSHIP_MODEL`` picks a specification by name. Without it, ``MODEL_NAME``
    does when it names one (the workflows set only that), else the default model does:
    ``MODEL_NAME`` then only names the registered model (tests register under unique
    names). The registered model and experiment default to the specification's.
    """
    catalog = catalog or Catalog.discover()
    specs = {spec.name: spec for spec in catalog.specs()}
    if settings.model:
        spec = _named(specs, settings.model)
        if settings.model_name in specs and settings.model_name != spec.name:
            # Registering one declared model under another's name would mix two models'
            # versions (a left-over MODEL_NAME in the shell is the usual cause).
            raise UsageError(
                f"--model {spec.name} conflicts with MODEL_NAME/--model-name "
                f"{settings.model_name!r}, another declared model: unset one of them"
            )
    else:
        spec = specs.get(settings.model_name) or _named(specs, DEFAULT_MODEL)
    spec = spec.with_split(settings.seed, settings.test_size)
    completed = settings.model_copy(
        update={
            "model_name": settings.model_name or spec.name,
            "experiment_name": settings.experiment_name or spec.experiment,
        }
    )
    return spec, completed
