"""The gate's policy: per-metric bounds and tolerances, and the ONNX parity tolerances.

A specification's ``[gate]`` table (over ``_defaults.toml``'s) holds it; ``validate
--thresholds FILE`` replaces it with the ``[gate]`` table of another file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mlship.model.config_files import problems, read_toml
from mlship.model.errors import BadConfigError

# Max |p_onnx - p_sklearn| by the served form's input dtype when the policy is silent.
# A float32 form rounds every input to float32 (tree ensembles need it), hence looser.
DEFAULT_PARITY_TOLERANCES: dict[str, float] = {"float64": 1e-6, "float32": 1e-4}


class MetricRule(BaseModel):
    """One gated metric, in MLflow's ``MetricThreshold`` terms plus our ``tolerance``."""

    # strict: `threshold = "0.9"` or `greater_is_better = "yes"` is a mistake, not a value.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = ""  # the key of its table; filled in by GatePolicy
    threshold: float = Field(allow_inf_nan=False)
    greater_is_better: bool
    # Ours, not MLflow's min_absolute_change (which demands beating the baseline: a
    # deterministic retrain of unchanged data never does). How much worse than production.
    tolerance: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)

    def better_or_equal(self, value: float, reference: float) -> bool:
        return value >= reference if self.greater_is_better else value <= reference

    def worst_allowed_against(self, production_value: float) -> float:
        if self.greater_is_better:
            return production_value - self.tolerance
        return production_value + self.tolerance

    @property
    def relation(self) -> str:
        return ">=" if self.greater_is_better else "<="


def _tolerance(default: float) -> Any:
    return Field(default=default, ge=0.0, le=1.0, allow_inf_nan=False)


class OnnxParityRule(BaseModel):
    """How close the ONNX form's probabilities must be to scikit-learn's on the test split."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    tolerance: float = _tolerance(DEFAULT_PARITY_TOLERANCES["float64"])
    float32_tolerance: float = _tolerance(DEFAULT_PARITY_TOLERANCES["float32"])

    def for_dtype(self, input_dtype: str) -> float:
        return self.float32_tolerance if input_dtype == "float32" else self.tolerance


class GatePolicy(BaseModel):
    """The gate's policy; ``metrics`` maps a metric's name to its rule, as in TOML."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # A table keyed by name: a metric cannot be listed twice, and a specification
    # overrides one shared rule by naming it.
    metrics: dict[str, MetricRule] = Field(min_length=1)
    onnx_parity: OnnxParityRule = Field(default_factory=OnnxParityRule)
    source: str = "default"

    @model_validator(mode="after")
    def _names(self) -> GatePolicy:
        for name, rule in self.metrics.items():
            if rule.name != name:
                self.metrics[name] = rule.model_copy(update={"name": name})
        return self

    @property
    def rules(self) -> list[MetricRule]:
        return list(self.metrics.values())


def policy_from(table: Any, source: str) -> GatePolicy:
    """The policy in a ``[gate]`` table; ValidationError locations start at ``metrics``."""
    if not isinstance(table, dict):
        table = {"metrics": table}  # let pydantic say what is wrong with it
    return GatePolicy.model_validate({**table, "source": source})


def load_policy_file(path: Path) -> GatePolicy:
    """The ``[gate]`` table of ``path`` (``validate --thresholds FILE``)."""
    document = read_toml(path, "thresholds file")
    try:
        return policy_from(document.get("gate", {}), str(path))
    except ValidationError as error:
        raise BadConfigError(f"thresholds file {path}: {problems(error, prefix='gate')}") from None
