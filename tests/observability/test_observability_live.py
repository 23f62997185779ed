"""Every dashboard query returns data from a real Prometheus scraping the real stack.

Two API replicas (`mlship-api` processes) are scraped: one serves a model
registered on the session's PostgreSQL-backed MLflow server, the other is
pointed at a model that does not exist, so it answers predictions with 503
(real server errors) and reports no model loaded. Traffic includes client
errors, a reload to a second version and a failed reload of a broken third
version. Prometheus runs with the committed configuration and rules (targets
rewritten to the test's ports, 1 s intervals); each dashboard query, with
Grafana's macros and variables substituted, goes through its HTTP API.
"""

from __future__ import annotations

import functools
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from mlflow import MlflowClient

from observability.generator.signals import FEATURE_PSI
from tests.integration.api_process import ApiProcess
from tests.observability.dashboard_lint import load_dashboards, queries, substitute
from tests.observability.prometheus_process import (
    PrometheusServer,
    finite_values,
    local_config,
)
from tests.support.components import wait_until
from tests.support.mlflow_server import MlflowServer
from tests.support.models import iris, register_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEY = "observability-key"
AUTH = {"X-API-Key": KEY}
# Series that exist only after a condition the test cannot produce in seconds.
ALLOWED_EMPTY = {
    ("mlship-model", "Class shares: last hour and a day earlier", "B"): (
        "the same hour a day earlier: needs a day of history"
    ),
}


@dataclass
class Stack:
    prometheus: PrometheusServer
    serving: ApiProcess  # serves the registered model
    broken: ApiProcess  # its model does not exist: 503 and mlship_model_loaded 0
    mlflow_target: str
    started: float
    model: str  # the registered name: the API's model label

    def variables(self) -> dict[str, str]:
        span = max(int(time.time() - self.started) + 1, 60)
        # "All" selected, as Grafana's allValue; a rate window holding several 1 s scrapes.
        return {
            "job": "mlship-api",
            "model": self.model,
            "instance": ".*",
            "feature": ".*",
            "__rate_interval": "30s",
            "__interval": "5s",
            "__range": f"{span}s",
        }


def _drive_traffic(serving: ApiProcess, broken: ApiProcess) -> None:
    features, _, _ = iris()
    rows = features.tolist()
    with serving.client(headers=AUTH) as client:
        for index in range(0, len(rows), 3):
            assert client.post("/predict", json={"features": rows[index]}).status_code == 200
        for start in (0, 50, 100):
            batch = {"instances": rows[start : start + 50]}
            assert client.post("/predict/batch", json=batch).status_code == 200
        # Far outside the training data: the top decile of every feature (feature drift).
        assert client.post("/predict", json={"features": [9.0, 5.0, 8.0, 3.0]}).status_code == 200
        assert client.post("/predict", json={"features": [1, 2]}).status_code == 422
        assert client.get("/no-such-route").status_code == 404
    assert httpx.post(f"{serving.url}/predict", json={"features": rows[0]}).status_code == 401
    with broken.client(headers=AUTH) as client:
        for row in rows[:20]:
            assert client.post("/predict", json={"features": row}).status_code == 503


def _scraped_after(prometheus: PrometheusServer, moment: float) -> bool:
    scrapes = prometheus.instant('timestamp(up{job="mlship-api"})')
    return len(scrapes) == 2 and min(float(series["value"][1]) for series in scrapes) > moment


def _drive_observed_traffic(
    prometheus: PrometheusServer, serving: ApiProcess, broken: ApiProcess
) -> None:
    """Traffic that every scraped series sees move, however slow the machine is.

    rate() ignores the jump of a series from absent to its first value, so a series
    whose whole traffic fell between two scrapes would read as zero: send the traffic
    twice, with a scrape of both API targets in between.
    """
    for _ in range(2):
        _drive_traffic(serving, broken)
        moment = time.time()
        wait_until(
            functools.partial(_scraped_after, prometheus, moment),
            timeout=60,
            what="a scrape after traffic",
        )


def _reload(serving: ApiProcess, client: MlflowClient, name: str, version: str) -> str:
    """Move the alias and ask for a reload; "unchanged" when the poller was first."""
    client.set_registered_model_alias(name, "production", version)
    with serving.client(headers=AUTH) as api:
        outcome: str = api.post("/admin/reload").json()["outcome"]
    return outcome


def _served_version(api: ApiProcess) -> str:
    version: str = httpx.get(f"{api.url}/model", timeout=10).json()["version"]
    return version


@pytest.fixture(scope="module")
def stack(mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    name = f"Observed_{uuid.uuid4().hex[:8]}"
    registry = MlflowClient(mlflow_server.uri)
    first = register_model(mlflow_server.uri, name)
    second = register_model(mlflow_server.uri, name, alias=None)
    broken_version = register_model(mlflow_server.uri, name, alias=None, degrade=True)

    workdir = tmp_path_factory.mktemp("observability")
    settings = {
        "API_TRACKING_URI": mlflow_server.uri,
        "API_KEYS": KEY,
        "API_LOG_LEVEL": "warning",
        # Frequent registry polls: MLflow's own request metrics get traffic too.
        "API_RELOAD_INTERVAL_SECONDS": "2",
    }
    serving = ApiProcess(
        workdir / "serving",
        {**settings, "API_MODEL_URI": f"models:/{name}@production"},
    )
    broken = ApiProcess(
        workdir / "broken",
        {**settings, "API_MODEL_URI": f"models:/{name}_absent@production"},
    )
    prometheus = PrometheusServer(workdir / "prometheus")
    config = local_config(
        {
            "mlship-api": [f"127.0.0.1:{serving.port}", f"127.0.0.1:{broken.port}"],
            "mlflow": [f"127.0.0.1:{mlflow_server.port}"],
            "prometheus": [f"127.0.0.1:{prometheus.port}"],
        }
    )
    started = time.time()
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            starting: list[Future[Any]] = [
                pool.submit(serving.start),
                pool.submit(broken.start),
                pool.submit(prometheus.start, config),
            ]
            for future in starting:
                future.result()
        serving.wait_for("/health/ready", 200, timeout=120)
        assert _served_version(serving) == first

        _drive_observed_traffic(prometheus, serving, broken)
        assert _reload(serving, registry, name, second) in {"loaded", "unchanged"}
        assert _served_version(serving) == second
        _drive_observed_traffic(prometheus, serving, broken)
        assert _reload(serving, registry, name, broken_version) == "failed"
        assert _served_version(serving) == second
        traffic_done = time.time()

        def scraped_after_traffic() -> bool:
            # Every API target scraped, and the rules evaluated, after the last request.
            scrapes = prometheus.instant('timestamp(up{job="mlship-api"})')
            rules = prometheus.instant(f"timestamp({FEATURE_PSI})")
            stamps = [float(series["value"][1]) for series in scrapes + rules]
            return len(scrapes) == 2 and bool(rules) and min(stamps) > traffic_done + 1

        wait_until(scraped_after_traffic, timeout=60, what="scrapes after the traffic")
        yield Stack(prometheus, serving, broken, f"127.0.0.1:{mlflow_server.port}", started, name)
    finally:
        for process in (serving, broken, prometheus):
            process.stop()


def test_every_target_is_up(stack: Stack) -> None:
    targets = stack.prometheus.api("targets", state="active")["activeTargets"]
    health = {
        (target["labels"]["job"], target["labels"]["instance"]): target["health"]
        for target in targets
    }
    assert health == {
        ("mlship-api", f"127.0.0.1:{stack.serving.port}"): "up",
        ("mlship-api", f"127.0.0.1:{stack.broken.port}"): "up",
        ("mlflow", stack.mlflow_target): "up",
        ("prometheus", f"127.0.0.1:{stack.prometheus.port}"): "up",
    }
    up = stack.prometheus.instant('up{job="mlship-api"}')
    assert sorted(series["value"][1] for series in up) == ["1", "1"]


def test_every_rule_evaluates_without_error(stack: Stack) -> None:
    groups = stack.prometheus.api("rules")["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) >= 40
    assert [(rule["name"], rule.get("lastError")) for rule in rules if rule["health"] != "ok"] == []


def test_alerts_follow_the_live_metrics(stack: Stack) -> None:
    broken = f"127.0.0.1:{stack.broken.port}"
    serving = f"127.0.0.1:{stack.serving.port}"

    def states() -> dict[tuple[str, str | None], str]:
        alerts = stack.prometheus.api("alerts")["alerts"]
        return {
            (alert["labels"]["alertname"], alert["labels"].get("instance")): alert["state"]
            for alert in alerts
        }

    def raised() -> bool:
        current = states()
        return ("MlshipModelNotLoaded", broken) in current and (
            "MlshipModelReloadFailed",
            serving,
        ) in current

    wait_until(raised, timeout=30, what="the model alerts")
    current = states()
    # Pending for 2 minutes first; firing if the stack took longer than that to set up.
    assert current[("MlshipModelNotLoaded", broken)] in {"pending", "firing"}
    assert ("MlshipModelNotLoaded", serving) not in current
    assert current[("MlshipModelReloadFailed", serving)] == "firing"
    assert ("MlshipApiTargetDown", serving) not in current
    assert ("MlshipApiTargetDown", broken) not in current


def test_template_variables_have_values(stack: Stack) -> None:
    values = stack.variables()
    for dashboard in load_dashboards().values():
        for variable in dashboard["templating"]["list"]:
            definition = substitute(variable["definition"], values)
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", definition)
            assert match, definition
            series = stack.prometheus.api(
                "series", **{"match[]": match.group(1), "start": str(stack.started)}
            )
            found = {labels[match.group(2)] for labels in series if match.group(2) in labels}
            assert found, f"{dashboard['uid']}: ${variable['name']} has no value"
            if variable["name"] == "job":
                assert "mlship-api" in found


@pytest.mark.parametrize("name", sorted(load_dashboards()))
def test_every_panel_query_returns_data(stack: Stack, name: str) -> None:
    values = stack.variables()
    now = time.time()
    failures = []
    for query in queries(load_dashboards()[name]):
        expr = substitute(query.expr, values)
        assert "$" not in expr, expr
        if query.instant:
            result = stack.prometheus.api("query", query=expr, time=str(now))["result"]
        else:
            result = stack.prometheus.api(
                "query_range", query=expr, start=str(stack.started), end=str(now), step="1"
            )["result"]
        allowed = (query.dashboard, query.panel, query.ref_id) in ALLOWED_EMPTY
        if allowed:
            assert result == [], f"{query.panel} {query.ref_id} has data now: drop its allowance"
        elif not finite_values(result):
            failures.append(f"{query.panel!r} {query.ref_id}: {expr} -> {result}")
    assert failures == [], "\n".join(failures)


def test_the_allow_list_names_real_queries() -> None:
    known = {
        (query.dashboard, query.panel, query.ref_id)
        for dashboard in load_dashboards().values()
        for query in queries(dashboard)
    }
    assert set(ALLOWED_EMPTY) <= known
    assert all(reason for reason in ALLOWED_EMPTY.values())


@pytest.mark.parametrize(
    "metric",
    [
        "mlship_predictions_total",
        "mlship_prediction_confidence_count",
        "mlship_feature_quantile_count",
        "mlship_inference_duration_seconds_count",
    ],
)
def test_model_series_carry_the_registered_model_name(stack: Stack, metric: str) -> None:
    """The rules and the Model dashboard group and select these series by `model`."""
    series = stack.prometheus.instant(f'count by (model) ({metric}{{job="mlship-api"}})')
    assert {entry["metric"].get("model") for entry in series} == {stack.model}
