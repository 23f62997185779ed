"""The gate's decision on synthetic candidates: every check can pass and can fail."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlship.model.catalog import Catalog
from mlship.model.gate import CandidateFacts, GateReport, ParityFacts, decide
from mlship.model.thresholds import GatePolicy, MetricRule

pytestmark = pytest.mark.unit

SCHEMA: list[dict[str, Any]] = [
    {"type": "double", "name": name, "required": True}
    for name in ("sepal_length", "sepal_width", "petal_length", "petal_width")
]
EXPECTED = ["setosa", "versicolor", "virginica"]
GOOD = {"accuracy": 0.95, "f1_macro": 0.95, "log_loss": 0.15}
POLICY = GatePolicy(
    metrics={
        "accuracy": MetricRule(threshold=0.9, greater_is_better=True, tolerance=0.02),
        "log_loss": MetricRule(threshold=0.4, greater_is_better=False, tolerance=0.05),
    },
    source="test",
)
PARITY = ParityFacts("onnx", "float64", rows=30, max_abs_diff=2e-16)


def facts(
    version: str = "2",
    metrics: dict[str, float] | None = None,
    schema: list[dict[str, Any]] | None = SCHEMA,
    smoke: list[str] | None = EXPECTED,
    smoke_error: str | None = None,
    *,
    parity: ParityFacts | None = PARITY,
    contract_version: int = 1,
    expected: list[str] | None = EXPECTED,
) -> CandidateFacts:
    return CandidateFacts(
        version,
        f"run{version}",
        dict(GOOD if metrics is None else metrics),
        schema,
        smoke,
        smoke_error,
        parity,
        contract_version=contract_version,
        smoke_expected=expected,
    )


def failing(candidate: CandidateFacts, production: CandidateFacts | None = None) -> list[str]:
    report = decide(POLICY, "M", candidate, production)
    return [check.name for check in report.failing]


def test_first_version_gets_absolute_checks_and_smoke_only() -> None:
    report = decide(POLICY, "M", facts(), None)
    assert report.passed
    assert [check.name for check in report.checks] == [
        "threshold:accuracy",
        "threshold:log_loss",
        "smoke",
        "onnx_parity",
    ]
    assert report.production_version is None


def test_against_production_every_kind_of_check_runs() -> None:
    report = decide(POLICY, "M", facts(), facts("1"))
    assert report.passed
    assert {check.kind for check in report.checks} == {
        "threshold",
        "regression",
        "signature",
        "smoke",
        "onnx_parity",
    }
    assert report.production_version == "1"


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        ({**GOOD, "accuracy": 0.85}, ["threshold:accuracy"]),
        ({**GOOD, "log_loss": 0.45}, ["threshold:log_loss"]),
        ({"log_loss": 0.1}, ["threshold:accuracy"]),
        ({**GOOD, "accuracy": float("nan")}, ["threshold:accuracy"]),
    ],
)
def test_absolute_thresholds_in_both_directions(
    metrics: dict[str, float], expected: list[str]
) -> None:
    assert failing(facts(metrics=metrics)) == expected


def test_bounds_are_inclusive() -> None:
    assert failing(facts(metrics={"accuracy": 0.9, "log_loss": 0.4})) == []


def test_regression_beyond_tolerance_fails_even_above_the_bound() -> None:
    production = facts("1", metrics={"accuracy": 0.99, "log_loss": 0.05})
    within = facts(metrics={"accuracy": 0.975, "log_loss": 0.09})
    worse = facts(metrics={"accuracy": 0.95, "log_loss": 0.2})
    assert failing(within, production) == []
    assert failing(worse, production) == ["regression:accuracy", "regression:log_loss"]


def test_better_than_production_passes() -> None:
    production = facts("1", metrics={"accuracy": 0.91, "log_loss": 0.3})
    assert failing(facts(), production) == []


def test_production_without_a_metric_is_not_compared() -> None:
    production = facts("1", metrics={"accuracy": 0.95})
    report = decide(POLICY, "M", facts(), production)
    check = next(c for c in report.checks if c.name == "regression:log_loss")
    assert check.passed
    assert "not compared" in check.detail


def test_signature_must_match_production() -> None:
    narrower = SCHEMA[:3]
    retyped = [{**SCHEMA[0], "type": "long"}, *SCHEMA[1:]]
    assert failing(facts(schema=narrower), facts("1")) == ["signature"]
    assert failing(facts(schema=retyped), facts("1")) == ["signature"]
    assert failing(facts(schema=None), facts("1")) == ["signature"]


def test_a_declared_contract_change_passes_with_a_visible_warning() -> None:
    narrower = SCHEMA[:3]
    report = decide(POLICY, "M", facts(schema=narrower, contract_version=2), facts("1"))
    assert report.passed
    check = next(check for check in report.checks if check.name == "signature")
    assert check.warning
    assert "declared API contract change (contract_version 1 -> 2)" in check.detail
    assert report.to_dict()["warnings"] == [f"signature: {check.detail}"]
    markdown = report.to_markdown()
    assert "Gate PASSED with warnings" in markdown
    assert f"> **Warning** (signature): {check.detail}" in markdown
    assert "| signature | pass (**warning**) |" in markdown
    assert GateReport.from_dict(json.loads(report.compact_json())) == report


def test_an_undeclared_contract_change_fails_and_says_how_to_declare_it() -> None:
    report = decide(POLICY, "M", facts(schema=SCHEMA[:3]), facts("1", contract_version=1))
    assert [check.name for check in report.failing] == ["signature"]
    assert "raise contract_version" in report.failing[0].detail
    # An older contract version is no declaration either.
    older = decide(POLICY, "M", facts(schema=SCHEMA[:3]), facts("1", contract_version=3))
    assert [check.name for check in older.failing] == ["signature"]
    assert not report.warnings
    assert "warning" not in report.to_markdown()


def test_a_model_without_its_own_smoke_sample_fails_the_smoke_check() -> None:
    report = decide(POLICY, "M", facts(expected=None), None)
    assert [check.name for check in report.failing] == ["smoke"]
    assert "carries no smoke sample" in report.failing[0].detail


def test_smoke_sample_must_be_classified_correctly() -> None:
    assert failing(facts(smoke=["setosa", "virginica", "virginica"])) == ["smoke"]
    assert failing(facts(smoke=["setosa"])) == ["smoke"]
    assert failing(facts(smoke=None, smoke_error="cannot load")) == ["smoke"]
    report = decide(POLICY, "M", facts(smoke=None, smoke_error="boom"), None)
    assert "boom" in report.failing[0].detail


def test_reports_render_every_check() -> None:
    production = facts("1", metrics={"accuracy": 0.99, "log_loss": 0.05})
    report = decide(POLICY, "M", facts(metrics={**GOOD, "accuracy": 0.85}), production)
    document = report.to_dict()
    assert document["passed"] is False
    assert document["production_version"] == "1"
    assert json.loads(report.compact_json()) == document
    assert "\n" not in report.compact_json()
    markdown = report.to_markdown()
    assert "Gate FAILED" in markdown
    for check in report.checks:
        assert f"| {check.name} |" in markdown


def test_packaged_policy_passes_the_default_model_metrics() -> None:
    policy = Catalog.discover().get("IrisClassifier").gate
    report = decide(policy, "M", facts(metrics={**GOOD, "f1_macro": 0.93}), None)
    assert report.passed, report.failing


def test_report_names_the_production_registry_and_round_trips() -> None:
    report = decide(
        POLICY,
        "M",
        facts(),
        facts("1"),
        production_registry="https://mlflow.example",
    )
    assert report.to_dict()["production_registry"] == "https://mlflow.example"
    assert report.to_dict()["baseline_note"] is None
    assert "production version 1 of registry `https://mlflow.example`" in report.to_markdown()
    again = GateReport.from_dict(json.loads(report.compact_json()))
    assert again == report
    assert again.to_markdown() == report.to_markdown()


def test_report_without_production_says_only_absolute_checks_ran() -> None:
    note = "fork pull request: no read access to the production registry; absolute checks only"
    report = decide(
        POLICY,
        "M",
        facts(),
        None,
        production_registry="http://ci:5000",
        baseline_note=note,
    )
    markdown = report.to_markdown()
    assert "No production version in registry `http://ci:5000`: absolute checks only" in markdown
    assert f"Note: {note}" in markdown
    assert report.to_dict()["baseline_note"] == note
    assert GateReport.from_dict(report.to_dict()) == report


def test_older_reports_without_registry_fields_still_load() -> None:
    document = decide(POLICY, "M", facts(), None).to_dict()
    del document["production_registry"], document["baseline_note"]
    report = GateReport.from_dict(document)
    assert report.production_registry is None
    assert "No production version: absolute checks only" in report.to_markdown()


@pytest.mark.parametrize(
    ("parity", "passed", "fragment"),
    [
        (PARITY, True, "float64 ONNX form on 30 test rows: 0 rows with another class"),
        (ParityFacts("onnx", "float64", rows=30, max_abs_diff=2e-6), False, "2e-06 beyond 1e-06"),
        (ParityFacts("onnx", "float32", rows=30, max_abs_diff=2e-6), True, "2e-06 within 0.0001"),
        (
            ParityFacts("onnx", "float32", rows=30, disagreeing_rows=(3, 7), max_abs_diff=1e-5),
            False,
            "2 rows with another class (rows 3, 7)",
        ),
        (ParityFacts("sklearn", reason="no converter"), True, "served by scikit-learn: no conv"),
        (ParityFacts("onnx", problem="model.onnx is missing"), False, "model.onnx is missing"),
        (ParityFacts(None), False, "no served form: retrain"),
        (None, False, "no served form: retrain"),
    ],
)
def test_onnx_parity_check(parity: ParityFacts | None, passed: bool, fragment: str) -> None:
    report = decide(Catalog.discover().get("IrisClassifier").gate, "M", facts(parity=parity), None)
    check = report.checks[-1]
    assert (check.name, check.kind, check.passed) == ("onnx_parity", "onnx_parity", passed)
    assert fragment in check.detail
    assert f"| onnx_parity | {'pass' if passed else '**FAIL**'} |" in report.to_markdown()
    assert GateReport.from_dict(json.loads(report.compact_json())) == report


def test_tiny_parity_figures_stay_readable_in_the_report() -> None:
    report = decide(POLICY, "M", facts(), None)
    assert "| 2e-16 | 1e-06 |" in report.to_markdown()
