"""promtool unit tests of the API health alerts (api-alerts.yml)."""

from __future__ import annotations

from observability.generator import api_rules
from observability.generator.signals import API_JOB
from observability.generator.unittests import Case, TestFile, alert_named, fires, series, silent

RULES = api_rules.alerts()
DOWN = alert_named(RULES, "MlshipApiTargetDown")
ABSENT = alert_named(RULES, "MlshipApiTargetAbsent")
NOT_LOADED = alert_named(RULES, "MlshipModelNotLoaded")
RELOAD_FAILED = alert_named(RULES, "MlshipModelReloadFailed")
API_1 = {"job": API_JOB, "instance": "api-1:8000"}
API_2 = {"job": API_JOB, "instance": "api-2:8000"}


def _cases() -> tuple[Case, ...]:
    failed = {**API_1, "result": "failed"}
    succeeded = {**API_1, "result": "success"}
    return (
        Case(
            "a replica that stops answering scrapes is down after a minute",
            "1m",
            [
                series("up", "1 1 1 0 0 0 0 0 0 0", **API_1),
                series("up", "1x9", **API_2),
                series("mlship_model_loaded", "1 1 1 _ _ _ _ _ _ _", **API_1),
                series("mlship_model_loaded", "1x9", **API_2),
            ],
            [
                silent(DOWN, "2m"),
                fires(DOWN, "6m", API_1),
                # A replica that is down is not also reported as serving no model.
                silent(NOT_LOADED, "9m"),
                silent(ABSENT, "9m"),
            ],
        ),
        Case(
            "a single failed scrape is no outage",
            "1m",
            [series("up", "1 1 0 1 1 1", **API_1)],
            [silent(DOWN, "2m"), silent(DOWN, "3m"), silent(DOWN, "5m")],
        ),
        Case(
            "no API target at all",
            "1m",
            [series("up", "1x10", job="mlflow", instance="mlflow:5000")],
            [silent(ABSENT, "1m"), fires(ABSENT, "5m", {"job": API_JOB})],
        ),
        Case(
            "a replica that answers serves no model, or has no gauge at all",
            "1m",
            [
                series("up", "1x10", **API_1),
                series("mlship_model_loaded", "1 1 0 0 0 0 0 0 0 0 0", **API_1),
                series("up", "1x10", **API_2),
            ],
            [silent(NOT_LOADED, "1m"), fires(NOT_LOADED, "6m", API_1, API_2)],
        ),
        Case(
            "a model that loads within two minutes raises nothing",
            "1m",
            [
                series("up", "1x10", **API_1),
                series("mlship_model_loaded", "0 0 1 1 1 1 1 1 1 1 1", **API_1),
            ],
            [silent(NOT_LOADED, "1m"), silent(NOT_LOADED, "10m")],
        ),
        Case(
            "a failed reload counted on an initialised counter",
            "1m",
            [
                series("mlship_model_reloads_total", "0 0 0 0 0 1+0x24", **failed),
                series("mlship_model_reloads_total", "0 0 1+0x27", **succeeded),
            ],
            # Fifteen minutes later the failure has aged out of the window.
            [
                silent(RELOAD_FAILED, "4m"),
                fires(RELOAD_FAILED, "6m", API_1),
                silent(RELOAD_FAILED, "25m"),
            ],
        ),
        Case(
            "a failed reload whose counter appears with its first failure",
            "1m",
            [series("mlship_model_reloads_total", "_x5 1+0x24", **failed)],
            [fires(RELOAD_FAILED, "6m", API_1), silent(RELOAD_FAILED, "25m")],
        ),
        Case(
            "successful reloads raise nothing",
            "1m",
            [
                series("mlship_model_reloads_total", "0+1x20", **succeeded),
                series("mlship_model_reloads_total", "0x20", **failed),
            ],
            [silent(RELOAD_FAILED, "10m")],
        ),
    )


def test_file() -> TestFile:
    return TestFile(
        "api-alerts.test.yml",
        "promtool test rules: API targets, model loaded, model reloads.",
        (RULES,),
        "1m",
        _cases(),
    )
