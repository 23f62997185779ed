"""The rules, their unit tests and the dashboards come from observability/generator."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from observability.generator import __main__ as generator
from observability.generator.outputs import RULES_DIR, TESTS_DIR, rendered, rule_files, stale
from observability.generator.promrules import Alert, Record, data, render
from observability.generator.signals import MODEL_LABELS

pytestmark = pytest.mark.unit

OBSERVABILITY = Path(__file__).resolve().parents[2] / "observability"
# The model-level metrics: the API labels them with the registered model's name.
MODEL_METRICS = (
    "mlship_predictions_total",
    "mlship_prediction_confidence",
    "mlship_feature_quantile",
    "mlship_inference_duration_seconds",
)
GROUPING = re.compile(r"\b(by|on)\s*\(([^)]*)\)")
# The example model's names: nothing in observability/ may assume one model.
MODEL_CONSTANTS = re.compile(r"iris|sepal|petal|setosa|versicolor|virginica", re.IGNORECASE)


def test_committed_files_are_what_the_code_generates() -> None:
    assert stale() == [], "run `make obs-generate` and commit the result"


def test_check_mode_reports_edited_and_hand_written_files(tmp_path: Path) -> None:
    assert generator.main(["--out", str(tmp_path)]) == 0
    assert generator.main(["--check", "--out", str(tmp_path)]) == 0
    dashboard = tmp_path / "grafana" / "dashboards" / "model.json"
    dashboard.write_text(dashboard.read_text().replace('"Model"', '"Edited by hand"'))
    rules = tmp_path / RULES_DIR / "model-alerts.yml"
    rules.write_text(rules.read_text().replace("> 0.25", "> 0.3"))
    (tmp_path / TESTS_DIR / "extra.test.yml").write_text("tests: []\n")
    assert stale(tmp_path) == [
        "grafana/dashboards/model.json",
        f"{RULES_DIR}/model-alerts.yml",
        f"{TESTS_DIR}/extra.test.yml",
    ]
    assert generator.main(["--check", "--out", str(tmp_path)]) == 1


def test_rule_files_read_back_as_the_rules_they_were_written_from() -> None:
    for rule_file in rule_files():
        assert yaml.safe_load(render(rule_file)) == data(rule_file), rule_file.name


def test_every_rule_on_a_model_metric_keeps_the_model_label() -> None:
    """Grouping or matching without `model` would mix two models served under one job."""
    model_level = [
        rule
        for rule_file in rule_files()
        for group in rule_file.groups
        for rule in group.rules
        if any(metric in rule.expr for metric in MODEL_METRICS) or "job_model" in rule.expr
    ]
    assert len(model_level) >= 16
    for rule in model_level:
        clauses = GROUPING.findall(rule.expr)
        assert clauses, rule.name
        for _, labels in clauses:
            kept = {label.strip() for label in labels.split(",")}
            assert set(MODEL_LABELS) <= kept, (rule.name, labels)
        if isinstance(rule, Record):
            assert rule.name.startswith("job_model"), rule.name


def test_model_alerts_name_the_model() -> None:
    for rule_file in rule_files():
        for group in rule_file.groups:
            for rule in group.rules:
                if isinstance(rule, Alert) and "job_model" in rule.expr:
                    assert "$labels.model" in rule.summary, rule.name


def test_no_example_model_constants_in_observability() -> None:
    files = [path for path in OBSERVABILITY.rglob("*") if path.is_file()]
    texts = {path: path.read_text(errors="replace") for path in files if path.suffix != ".pyc"}
    assert [str(path) for path, text in texts.items() if MODEL_CONSTANTS.search(text)] == []
    assert [name for name, text in rendered().items() if MODEL_CONSTANTS.search(text)] == []
