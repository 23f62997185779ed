"""Prometheus configuration and rules: promtool checks, rule unit tests, and their coverage."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.components import missing

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "observability" / "prometheus"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
TEST_FILES = sorted((PROMETHEUS_DIR / "tests").glob("*.test.yml"))
SEVERITIES = {"page", "ticket"}


def _promtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        missing("promtool", "install Debian's prometheus package (apt-get install prometheus)")
    return subprocess.run(
        [promtool, *arguments], capture_output=True, text=True, check=False, cwd=PROMETHEUS_DIR
    )


def _alerts() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def _unit_tests() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, yaml.safe_load(path.read_text())) for path in TEST_FILES]


@pytest.mark.integration
def test_promtool_accepts_the_configuration_and_its_rule_files() -> None:
    result = _promtool("check", "config", CONFIG.name)
    assert result.returncode == 0, result.stdout + result.stderr
    # The config's rule_files glob really reaches every rule file.
    for path in RULE_FILES:
        assert f"rules/{path.name}" in result.stdout


@pytest.mark.integration
def test_promtool_accepts_every_rule_file() -> None:
    assert RULE_FILES
    result = _promtool("check", "rules", *(str(path) for path in RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.integration
@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda path: path.name)
def test_rule_unit_tests_pass(test_file: Path) -> None:
    result = _promtool("test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.unit
def test_scrape_jobs_cover_every_api_replica_mlflow_and_prometheus() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert sorted(jobs) == ["mlflow", "mlship-api", "prometheus"]
    # Every replica: DNS service discovery returns one target per container.
    assert jobs["mlship-api"]["dns_sd_configs"] == [
        {"names": ["api"], "type": "A", "port": 8000, "refresh_interval": "15s"}
    ]
    assert jobs["mlship-api"]["metrics_path"] == "/metrics"
    # MLflow's own /metrics needs an admin login: the image serves it openly on 5001.
    assert jobs["mlflow"]["static_configs"] == [{"targets": ["mlflow:5001"]}]
    assert jobs["mlflow"]["metrics_path"] == "/metrics"
    assert config["rule_files"] == ["rules/*.yml"]


@pytest.mark.unit
def test_every_alert_has_a_severity_summary_description_and_runbook() -> None:
    alerts = _alerts()
    assert len(alerts) >= 10
    for alert in alerts:
        assert alert["labels"]["severity"] in SEVERITIES, alert["alert"]
        assert set(alert["annotations"]) == {"summary", "description", "runbook"}, alert["alert"]
        assert all(text.strip() for text in alert["annotations"].values()), alert["alert"]


@pytest.mark.unit
def test_every_alert_has_a_firing_and_a_silent_unit_test_case() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for _, tests in _unit_tests():
        for case in tests["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {alert["alert"] for alert in _alerts()}
    assert names - firing == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested silent"


@pytest.mark.unit
def test_every_rule_file_is_loaded_by_a_unit_test() -> None:
    loaded = {
        (path.parent / rule_file).resolve()
        for path, tests in _unit_tests()
        for rule_file in tests["rule_files"]
    }
    assert {path.resolve() for path in RULE_FILES} - loaded == set()


@pytest.mark.unit
def test_firing_cases_expect_the_runbook_annotation() -> None:
    for path, tests in _unit_tests():
        for case in tests["tests"]:
            for check in case.get("alert_rule_test", []):
                for expected in check.get("exp_alerts") or []:
                    assert "severity" in expected["exp_labels"], (path.name, case["name"])
                    assert "runbook" in expected["exp_annotations"], (path.name, case["name"])


@pytest.mark.unit
def test_every_model_alert_fires_for_one_of_two_models_in_a_unit_test() -> None:
    """Two models under one job: the alert fires for the drifting one, not for both."""
    per_model = {
        alert["alert"] for alert in _alerts() if re.search(r"\bon \([^)]*\bmodel\b", alert["expr"])
    }
    assert per_model == {"MlshipPredictionDrift", "MlshipFeatureDrift"}
    shown: set[str] = set()
    for _, tests in _unit_tests():
        for case in tests["tests"]:
            inputs = {
                model
                for series in case["input_series"]
                for model in re.findall(r'\bmodel="([^"]+)"', series["series"])
            }
            for check in case.get("alert_rule_test", []):
                fired = {
                    alert["exp_labels"].get("model") for alert in check.get("exp_alerts") or []
                }
                if len(inputs) >= 2 and len(fired) == 1 and fired <= inputs:
                    shown.add(check["alertname"])
    assert per_model - shown == set()
