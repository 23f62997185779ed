"""The gate's policy file: TOML, parsed strictly, errors that name the key and line."""

from __future__ import annotations

import re
import tomllib
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mlship.model.errors import BadConfigError

_METRIC_HEADER = re.compile(r"^\s*\[\[\s*metric\s*\]\]")
_PARITY_HEADER = re.compile(r"^\s*\[\s*onnx_parity\s*\]")
# Max |p_onnx - p_sklearn| by the served form's input dtype when the policy is silent.
# A float32 form rounds every input to float32 (tree ensembles need it), hence looser.
DEFAULT_PARITY_TOLERANCES: dict[str, float] = {"float64": 1e-6, "float32": 1e-4}


class MetricRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    direction: Literal["min", "max"]
    bound: float
    tolerance: float = Field(default=0.0, ge=0.0)

    def better_or_equal(self, value: float, reference: float) -> bool:
        return value >= reference if self.direction == "min" else value <= reference

    def worst_allowed_against(self, production_value: float) -> float:
        if self.direction == "min":
            return production_value - self.tolerance
        return production_value + self.tolerance


def _tolerance(default: float) -> Any:
    return Field(default=default, ge=0.0, le=1.0, allow_inf_nan=False)


class OnnxParityRule(BaseModel):
    """How close the ONNX form's probabilities must be to scikit-learn's on the test split."""

    # strict: `tolerance = true` or `"1e-6"` is a mistake, not a number.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    tolerance: float = _tolerance(DEFAULT_PARITY_TOLERANCES["float64"])
    float32_tolerance: float = _tolerance(DEFAULT_PARITY_TOLERANCES["float32"])

    def for_dtype(self, input_dtype: str) -> float:
        return self.float32_tolerance if input_dtype == "float32" else self.tolerance


class GatePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: list[MetricRule] = Field(min_length=1)
    onnx_parity: OnnxParityRule = Field(default_factory=OnnxParityRule)
    source: str = "default"

    @field_validator("metric")
    @classmethod
    def _unique_names(cls, rules: list[MetricRule]) -> list[MetricRule]:
        names = [rule.name for rule in rules]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"metric names must be unique, repeated: {', '.join(duplicates)}")
        return rules


def default_thresholds_text() -> str:
    return files("mlship.model").joinpath("gate.toml").read_text(encoding="utf-8")


def _where(text: str, location: tuple[int | str, ...]) -> str:
    """`metric #2 (line 14).direction` for a pydantic error location."""
    if len(location) >= 2 and location[0] == "metric" and isinstance(location[1], int):
        headers = [
            number
            for number, line in enumerate(text.splitlines(), start=1)
            if _METRIC_HEADER.match(line)
        ]
        index = location[1]
        line = f" (line {headers[index]})" if index < len(headers) else ""
        rest = "".join(f".{part}" for part in location[2:])
        return f"metric #{index + 1}{line}{rest}"
    if location == ("metric",):
        return "[[metric]] tables"
    if location and location[0] == "onnx_parity":
        headers = [n for n, line in enumerate(text.splitlines(), 1) if _PARITY_HEADER.match(line)]
        line = f" (table at line {headers[0]})" if headers else ""
        return ".".join(str(part) for part in location) + line
    return ".".join(str(part) for part in location) or "file"


def parse_thresholds(text: str, source: str) -> GatePolicy:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise BadConfigError(f"thresholds file {source}: invalid TOML: {error}") from None
    document.pop("source", None)
    try:
        return GatePolicy.model_validate({**document, "source": source})
    except ValidationError as error:
        problems = "; ".join(
            f"{_where(text, tuple(detail['loc']))}: {detail['msg']}" for detail in error.errors()
        )
        raise BadConfigError(f"thresholds file {source}: {problems}") from None


def load_thresholds(path: Path | None) -> GatePolicy:
    """The policy in ``path``, or the packaged default when ``path`` is None."""
    if path is None:
        return parse_thresholds(default_thresholds_text(), "default (mlship.model/gate.toml)")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise BadConfigError(f"thresholds file {path}: cannot read it ({error.strerror})") from None
    return parse_thresholds(text, str(path))
