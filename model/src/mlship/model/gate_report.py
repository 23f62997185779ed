"""The gate's verdict: its checks, and the JSON and markdown reports made of them."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Check:
    name: str
    kind: str  # threshold | regression | signature | smoke | onnx_parity
    passed: bool
    detail: str
    observed: float | None = None
    limit: float | None = None
    # A pass that people must see (a declared change of the API contract).
    warning: bool = False


@dataclass(frozen=True)
class GateReport:
    model_name: str
    version: str
    run_id: str
    production_version: str | None
    thresholds: str
    checks: list[Check] = field(default_factory=list)
    # The registry `production` was read from (credentials stripped), None when unknown.
    production_registry: str | None = None
    # Why no baseline registry was consulted (e.g. a fork PR without read access).
    baseline_note: str | None = None

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failing(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    @property
    def warnings(self) -> list[Check]:
        return [check for check in self.checks if check.warning]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "version": self.version,
            "run_id": self.run_id,
            "production_version": self.production_version,
            "thresholds": self.thresholds,
            "passed": self.passed,
            "checks": [asdict(check) for check in self.checks],
            "warnings": [f"{check.name}: {check.detail}" for check in self.warnings],
            "production_registry": self.production_registry,
            "baseline_note": self.baseline_note,
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> GateReport:
        """The report ``to_dict`` wrote (a ``gate_report`` tag); KeyError/TypeError if not."""
        return cls(
            model_name=str(document["model_name"]),
            version=str(document["version"]),
            run_id=str(document["run_id"]),
            production_version=document["production_version"],
            thresholds=str(document["thresholds"]),
            checks=[Check(**check) for check in document["checks"]],
            production_registry=document.get("production_registry"),
            baseline_note=document.get("baseline_note"),
        )

    def compact_json(self) -> str:
        """The report as one line, for the ``gate_report`` version tag."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    def to_markdown(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        if self.passed and self.warnings:
            verdict += " with warnings"
        registry = f"registry `{self.production_registry}`" if self.production_registry else ""
        if self.production_version:
            against = f"Compared with production version {self.production_version}"
            against += f" of {registry}" if registry else ""
        else:
            against = "No production version" + (f" in {registry}" if registry else "")
            against += ": absolute checks only"
        lines = [
            f"### Gate {verdict}: {self.model_name} version {self.version}",
            "",
            f"{against}; thresholds: `{self.thresholds}`.",
            "",
            *([f"Note: {self.baseline_note}", ""] if self.baseline_note else []),
            # Above the table: a declared contract change passes, and must not go unseen.
            *[f"> **Warning** ({check.name}): {check.detail}" for check in self.warnings],
            *([""] if self.warnings else []),
            "| check | result | observed | limit | detail |",
            "| --- | --- | --- | --- | --- |",
        ]
        for check in self.checks:
            result = "pass (**warning**)" if check.warning else "pass"
            result = result if check.passed else "**FAIL**"
            lines.append(
                f"| {check.name} | {result} "
                f"| {_number(check.observed)} | {_number(check.limit)} | {check.detail} |"
            )
        return "\n".join(lines) + "\n"


def _number(value: float | None) -> str:
    if value is None:
        return ""
    # Parity differences and tolerances are tiny: 0.0000 would hide them.
    return f"{value:.3g}" if 0 < abs(value) < 1e-3 else f"{value:.4f}"
