"""The validation gate's decision: pure logic over facts gathered from the registry."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mlship.model.gate_report import Check, GateReport
from mlship.model.thresholds import GatePolicy, MetricRule, OnnxParityRule

__all__ = ["CandidateFacts", "Check", "GateReport", "ParityFacts", "decide"]


@dataclass(frozen=True)
class ParityFacts:
    """The served form of a version and how it compared with scikit-learn on the test split.

    Gathered by ``validation.py``; ``problem`` says why no comparison could be made.
    """

    runtime: str | None  # "onnx" | "sklearn"; None: the version has no metadata.serving
    input_dtype: str = "float64"
    reason: str | None = None  # runtime sklearn: why the converter could not handle it
    rows: int = 0
    disagreeing_rows: tuple[int, ...] = ()
    max_abs_diff: float = 0.0
    problem: str | None = None


@dataclass(frozen=True)
class CandidateFacts:
    """What the gate needs to know about one model version."""

    version: str
    run_id: str
    metrics: dict[str, float]
    input_schema: list[dict[str, Any]] | None
    # Class names predicted for the smoke sample, None when the model could not predict.
    smoke_predictions: list[str] | None = None
    smoke_error: str | None = None
    # None when not gathered (production's facts): the candidate's always are.
    parity: ParityFacts | None = None
    # The API contract version the model declares (MLmodel metadata); absent: 1.
    contract_version: int = 1
    # The class names the model's own smoke sample expects; None: it carries none.
    smoke_expected: list[str] | None = None


def _threshold_check(rule: MetricRule, candidate: CandidateFacts) -> Check:
    name = f"threshold:{rule.name}"
    value = candidate.metrics.get(rule.name)
    if value is None or math.isnan(value):
        return Check(name, "threshold", False, f"candidate has no metric {rule.name!r}")
    passed = rule.better_or_equal(value, rule.threshold)
    verb = "meets" if passed else "misses"
    detail = f"{rule.name} {value:.4f} {verb} {rule.relation} {rule.threshold}"
    return Check(name, "threshold", passed, detail, value, rule.threshold)


def _regression_check(
    rule: MetricRule, candidate: CandidateFacts, production: CandidateFacts
) -> Check:
    name = f"regression:{rule.name}"
    value = candidate.metrics.get(rule.name)
    reference = production.metrics.get(rule.name)
    if reference is None or math.isnan(reference):
        return Check(name, "regression", True, f"production has no {rule.name!r}: not compared")
    if value is None or math.isnan(value):
        return Check(name, "regression", False, f"candidate has no metric {rule.name!r}")
    limit = rule.worst_allowed_against(reference)
    passed = rule.better_or_equal(value, limit)
    detail = (
        f"{value:.4f} vs production {reference:.4f} "
        f"(tolerance {rule.tolerance}) {'within' if passed else 'worse than allowed'}"
    )
    return Check(name, "regression", passed, detail, value, limit)


def _signature_check(candidate: CandidateFacts, production: CandidateFacts) -> Check:
    if candidate.input_schema is None:
        return Check("signature", "signature", False, "candidate has no input signature")
    if production.input_schema is None:
        return Check("signature", "signature", True, "production has no signature: not compared")
    if candidate.input_schema == production.input_schema:
        return Check("signature", "signature", True, "input signature matches production")
    change = (
        f"input signature {_columns(candidate.input_schema)} differs from production's "
        f"{_columns(production.input_schema)}"
    )
    declared, current = candidate.contract_version, production.contract_version
    if declared > current:
        detail = (
            f"declared API contract change (contract_version {current} -> {declared}): "
            f"{change}; clients of the API must follow"
        )
        return Check("signature", "signature", True, detail, warning=True)
    detail = (
        f"{change}, and contract_version stays {declared}: raise contract_version in the "
        "model specification to declare the change"
    )
    return Check("signature", "signature", False, detail)


def _columns(schema: list[dict[str, Any]]) -> str:
    return "[" + ", ".join(f"{col.get('name')}:{col.get('type')}" for col in schema) + "]"


def _smoke_check(candidate: CandidateFacts) -> Check:
    expected = candidate.smoke_expected
    if expected is None:
        return Check("smoke", "smoke", False, "the model carries no smoke sample: retrain")
    if candidate.smoke_predictions is None:
        reason = candidate.smoke_error or "model could not predict"
        return Check("smoke", "smoke", False, f"smoke sample not predicted: {reason}")
    wrong = [
        f"row {index}: {got} (expected {want})"
        for index, (got, want) in enumerate(
            zip(candidate.smoke_predictions, expected, strict=False)
        )
        if got != want
    ]
    if len(candidate.smoke_predictions) != len(expected):
        wrong.append(f"{len(candidate.smoke_predictions)} predictions for {len(expected)} rows")
    if wrong:
        return Check("smoke", "smoke", False, "; ".join(wrong))
    return Check("smoke", "smoke", True, f"{len(expected)} smoke rows classified correctly")


def _parity_check(facts: ParityFacts | None, rule: OnnxParityRule) -> Check:
    name = "onnx_parity"
    if facts is None or facts.runtime is None:
        return Check(name, name, False, "no served form: retrain (no metadata.serving)")
    if facts.problem is not None:
        return Check(name, name, False, facts.problem)
    if facts.runtime == "sklearn":
        return Check(name, name, True, f"served by scikit-learn: {facts.reason}")
    limit = rule.for_dtype(facts.input_dtype)
    passed = not facts.disagreeing_rows and facts.max_abs_diff <= limit
    rows = ", ".join(str(row) for row in facts.disagreeing_rows[:10])
    rows = f" (rows {rows}{', ...' if len(facts.disagreeing_rows) > 10 else ''})" if rows else ""
    detail = (
        f"{facts.input_dtype} ONNX form on {facts.rows} test rows: "
        f"{len(facts.disagreeing_rows)} rows with another class{rows}, max |p_onnx - p_sklearn| "
        f"{facts.max_abs_diff:.3g} {'within' if passed else 'beyond'} {limit:g}"
    )
    return Check(name, name, passed, detail, facts.max_abs_diff, limit)


def decide(
    policy: GatePolicy,
    model_name: str,
    candidate: CandidateFacts,
    production: CandidateFacts | None,
    *,
    production_registry: str | None = None,
    baseline_note: str | None = None,
) -> GateReport:
    """Every check the policy asks for; with no production only the absolute ones."""
    checks = [_threshold_check(rule, candidate) for rule in policy.rules]
    if production is not None:
        checks += [_regression_check(rule, candidate, production) for rule in policy.rules]
        checks.append(_signature_check(candidate, production))
    checks.append(_smoke_check(candidate))
    checks.append(_parity_check(candidate.parity, policy.onnx_parity))
    return GateReport(
        model_name=model_name,
        version=candidate.version,
        run_id=candidate.run_id,
        production_version=production.version if production else None,
        thresholds=policy.source,
        checks=checks,
        production_registry=production_registry,
        baseline_note=baseline_note,
    )
