"""The provisioned Grafana dashboards: generated from current code, and lint-clean."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from observability.generator.grafana import DATASOURCE_UID
from observability.generator.outputs import DASHBOARDS
from tests.observability.dashboard_lint import (
    counter_problems,
    dashboard_problems,
    load_dashboards,
    queries,
    substitute,
)
from tests.support.components import missing

GRAFANA = Path(__file__).resolve().parents[2] / "observability" / "grafana"
# What the API's metric contract must show somewhere on the dashboards.
CONTRACT_METRICS = [
    "mlship_http_requests_total",
    "mlship_http_request_duration_seconds",
    "mlship_http_requests_in_flight",
    "mlship_model_info",
    "mlship_model_loaded",
    "mlship_model_load_duration_seconds",
    "mlship_model_reloads_total",
    "mlship_registry_reachable",
    "mlship_predictions_total",
    "mlship_inference_duration_seconds",
    "mlship_prediction_confidence",
    "mlship_feature_quantile",
]


@pytest.mark.unit
def test_every_generated_dashboard_is_provisioned() -> None:
    assert sorted(load_dashboards()) == sorted(DASHBOARDS)


@pytest.mark.unit
def test_the_three_dashboards_have_distinct_uids() -> None:
    dashboards = load_dashboards().values()
    assert sorted(d["title"] for d in dashboards) == ["Inference API", "Model", "Platform"]
    uids = [d["uid"] for d in dashboards]
    assert len(set(uids)) == len(uids)


@pytest.mark.unit
@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_passes_lint(name: str) -> None:
    assert dashboard_problems(load_dashboards()[name]) == []


@pytest.mark.unit
def test_lint_reports_broken_panels() -> None:
    dashboard = copy.deepcopy(load_dashboards()["inference-api.json"])
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    panels[0]["fieldConfig"]["defaults"].pop("unit")
    panels[1]["datasource"] = {"type": "prometheus", "uid": "another"}
    panels[2]["targets"][0]["expr"] = "sum(mlship_http_requests_total)"
    panels[3]["targets"][0]["expr"] = "sum(rate(mlship_http_requests_total[5m])) by ($missing)"
    panels[4]["id"] = panels[5]["id"]
    text = "\n".join(dashboard_problems(dashboard))
    assert "no unit" in text
    assert "datasource is not uid" in text
    assert "counter mlship_http_requests_total is not inside rate()" in text
    assert "rate() over [5m] instead of [$__rate_interval]" in text
    assert "$missing is neither a variable nor a Grafana macro" in text
    assert "panel ids are not unique" in text


@pytest.mark.unit
def test_counter_rule_reads_past_label_values_and_recorded_series() -> None:
    assert counter_problems('sum(rate(x_total{route="/a_total"}[$__rate_interval]))') == []
    assert counter_problems('job:mlship_slo_errors:ratio_rate5m{job="a_count"}') == []
    assert counter_problems("increase(x_bucket[30d])") == []
    assert counter_problems("x_sum / x_count") == [
        "counter x_sum is not inside rate()/increase()",
        "counter x_count is not inside rate()/increase()",
    ]


@pytest.mark.unit
def test_every_contract_metric_is_on_a_dashboard() -> None:
    texts = []
    for dashboard in load_dashboards().values():
        texts += [query.expr for query in queries(dashboard)]
        texts += [variable["definition"] for variable in dashboard["templating"]["list"]]
    shown = "\n".join(texts)
    assert [metric for metric in CONTRACT_METRICS if metric not in shown] == []


@pytest.mark.unit
def test_provisioning_names_the_datasource_uid_and_the_dashboards_folder() -> None:
    datasources = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    assert [(d["uid"], d["type"], d["url"]) for d in datasources] == [
        (DATASOURCE_UID, "prometheus", "http://prometheus:9090")
    ]
    providers = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "mlship.yml").read_text()
    )["providers"]
    assert [(p["type"], p["options"]["path"]) for p in providers] == [
        ("file", "/var/lib/grafana/dashboards")
    ]


@pytest.mark.integration
def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query (macros substituted) as the expression of a recording rule."""
    promtool = shutil.which("promtool")
    if promtool is None:
        missing("promtool", "install Debian's prometheus package")
    values = {"job": "mlship-api", "model": "a-model", "instance": ".*", "feature": ".*"}
    values |= {"__rate_interval": "1m", "__range": "1h", "__interval": "15s"}
    every_query = [q for dashboard in load_dashboards().values() for q in queries(dashboard)]
    rules = [
        {"record": f"dashboard_query_{index}", "expr": substitute(query.expr, values)}
        for index, query in enumerate(every_query)
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rules)} rules found" in result.stdout


@pytest.mark.unit
def test_every_model_panel_follows_the_model_variable() -> None:
    """Model-level series carry a model label: each query on them selects $model."""
    model_level = re.compile(
        r"mlship_(predictions_total|prediction_confidence|feature_quantile|inference_duration)"
        r"|job_model|mlship_model_info"
    )
    model = load_dashboards()["model.json"]
    assert "model" in {variable["name"] for variable in model["templating"]["list"]}
    found = [query for query in queries(model) if model_level.search(query.expr)]
    assert len(found) >= 8
    for query in found:
        selectors = re.findall(r"\b(?:mlship_\w+|job_model\w*:[\w:]+)\{([^}]*)\}", query.expr)
        assert selectors, query.expr
        for selector in selectors:
            assert re.search(r'\bmodel(_name)?="\$model"', selector), (query.panel, query.expr)
    # The other dashboards are about the service and the platform, not a model.
    for name, dashboard in load_dashboards().items():
        if name != "model.json":
            assert [q.expr for q in queries(dashboard) if model_level.search(q.expr)] == []
