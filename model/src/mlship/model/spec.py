"""A model specification: one TOML file per model under ``model/models/``.

It names the data (a loader and its pin), the features and classes, the pipeline, the
smoke sample, the gate policy and the API contract version. Everything here checks
the file's own consistency; ``catalog.py`` finds and reads the files.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mlship.model.estimators import check_params, estimator_class, is_classifier_class
from mlship.model.thresholds import GatePolicy

_NAME = r"^[A-Za-z][A-Za-z0-9_.-]*$"
_FROZEN = ConfigDict(extra="forbid", frozen=True)


class _Data(BaseModel):
    model_config = _FROZEN

    # The columns in the order the model takes them: they name the input signature.
    features: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]] = Field(min_length=1)
    # Class index -> name; probabilities and the API's answers use this order.
    classes: list[Annotated[str, Field(min_length=1)]] = Field(min_length=2)

    @field_validator("features", "classes")
    @classmethod
    def _unique(cls, names: list[str]) -> list[str]:
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"names must be unique, repeated: {', '.join(repeated)}")
        return names


class BundledData(_Data):
    """One of scikit-learn's bundled data sets (no network); ``features`` rename its columns."""

    loader: Literal["sklearn"]
    dataset: Literal["iris", "breast_cancer", "wine"]


class FileData(_Data):
    """A CSV or Parquet file: ``path`` relative to the specification, pinned by ``sha256``."""

    loader: Literal["csv", "parquet"]
    path: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    target: str = Field(min_length=1)  # the column holding each row's class name


DataSpec = Annotated[BundledData | FileData, Field(discriminator="loader")]


class SplitSpec(BaseModel):
    model_config = _FROZEN

    seed: int
    test_size: float = Field(gt=0.0, lt=1.0)


class StepSpec(BaseModel):
    model_config = _FROZEN

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    estimator: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> StepSpec:
        check_params(estimator_class(self.estimator), self.params)
        return self


class SmokeRow(BaseModel):
    model_config = _FROZEN

    expected: str
    features: list[Annotated[float, Field(allow_inf_nan=False)]] = Field(min_length=1)


class ModelSpec(BaseModel):
    model_config = _FROZEN

    name: str = Field(pattern=_NAME)
    description: str = ""
    experiment: str = Field(min_length=1)
    contract_version: int = Field(ge=1)
    data: DataSpec
    split: SplitSpec
    pipeline: list[StepSpec] = Field(min_length=1)
    smoke: list[SmokeRow] = Field(min_length=1)
    gate: GatePolicy
    # Where it was read from (set by the catalog, not written in the file).
    source: str = ""

    @model_validator(mode="before")
    @classmethod
    def _gate_source(cls, data: Any) -> Any:
        # The report names the policy's origin: the specification, not "default".
        if isinstance(data, dict) and isinstance(data.get("gate"), dict):
            return {**data, "gate": {**data["gate"], "source": data.get("source", "")}}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        if not is_classifier_class(estimator_class(self.pipeline[-1].estimator)):
            raise ValueError(f"pipeline: the last step, {self.pipeline[-1].name}, is no classifier")
        names = [step.name for step in self.pipeline]
        if len(set(names)) != len(names):
            raise ValueError("pipeline: step names must be unique")
        width, classes = len(self.data.features), self.data.classes
        for number, row in enumerate(self.smoke, start=1):
            if len(row.features) != width:
                raise ValueError(
                    f"smoke[{number}].features: {len(row.features)} values, "
                    f"data.features names {width}"
                )
            if row.expected not in classes:
                raise ValueError(
                    f"smoke[{number}].expected: {row.expected!r} is not one of data.classes"
                )
        known = {"accuracy", "f1_macro", "log_loss"}
        known |= {f"{kind}_{name}" for kind in ("precision", "recall") for name in classes}
        unknown = sorted(set(self.gate.metrics) - known)
        if unknown:
            raise ValueError(
                f"gate.metrics: training logs no {', '.join(unknown)} "
                f"(it logs {', '.join(sorted(known))})"
            )
        return self

    def with_split(self, seed: int | None, test_size: float | None) -> ModelSpec:
        """This specification with the split overridden (``MLSHIP_SEED``, ``--test-size``)."""
        split = self.split.model_copy(
            update={
                key: value
                for key, value in (("seed", seed), ("test_size", test_size))
                if value is not None
            }
        )
        return self.model_copy(update={"split": split})

    def with_params(self, overrides: dict[str, Any]) -> ModelSpec:
        """This specification with the classifier's params overridden (``train --param``).

        Raises pydantic's ValidationError for a parameter the classifier does not take.
        """
        if not overrides:
            return self
        last = self.pipeline[-1]
        step = StepSpec.model_validate(
            {**last.model_dump(), "params": {**last.params, **overrides}}
        )
        return self.model_copy(update={"pipeline": [*self.pipeline[:-1], step]})

    def pipeline_steps(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [(step.name, step.estimator, dict(step.params)) for step in self.pipeline]

    def smoke_sample(self) -> dict[str, Any]:
        """The sample as the MLmodel metadata carries it: rows and expected class indices."""
        return {
            "inputs": [list(row.features) for row in self.smoke],
            "expected": [self.data.classes.index(row.expected) for row in self.smoke],
        }
