"""The "Model" dashboard: what is served, what it predicts, what it sees, how fast."""

from __future__ import annotations

from observability.generator.grafana import (
    DATASOURCE,
    Json,
    Panel,
    Query,
    dashboard,
    query_variable,
    value_names,
)
from observability.generator.model_drift import (
    MODEL_SELECTED,
    SELECTED,
    feature_panels,
    prediction_panels,
)

UID = "mlship-model"
# mlship_model_info names the model model_name (the model metrics call it model), and
# stays at 0 for versions a replica served before: "== 1" is the current one.
SERVED = f'{SELECTED}, model_name="$model"'
RATE = "[$__rate_interval]"


def _served() -> list[Panel]:
    return [
        Panel(
            "Version served",
            "Model name and version each replica serves now.",
            (
                Query(
                    f"max by (model_name, model_version) (mlship_model_info{{{SERVED}}} == 1)",
                    "{{model_name}} v{{model_version}}",
                    instant=True,
                ),
            ),
            "none",
            kind="stat",
            width=8,
            height=4,
            options={"textMode": "name", "colorMode": "none", "graphMode": "none"},
        ),
        Panel(
            "Model loaded",
            "Per replica: a replica without a model answers predictions with 503.",
            (Query(f"min by (instance) (mlship_model_loaded{{{SELECTED}}})", "{{instance}}"),),
            "none",
            kind="stat",
            width=8,
            height=4,
            defaults={"mappings": value_names({"1": ("loaded", "green"), "0": ("none", "red")})},
        ),
        Panel(
            "Registry reachable",
            "Per replica: whether the last check of the MLflow registry succeeded.",
            (
                Query(
                    f"min by (instance) (mlship_registry_reachable{{{SELECTED}}})", "{{instance}}"
                ),
            ),
            "none",
            kind="stat",
            width=8,
            height=4,
            defaults={"mappings": value_names({"1": ("yes", "green"), "0": ("no", "red")})},
        ),
        Panel(
            "Replicas per version",
            "How many replicas serve each version over time (reloads are annotated).",
            (
                Query(
                    f"count by (model_version) (mlship_model_info{{{SERVED}}} == 1)",
                    "v{{model_version}}",
                ),
            ),
            "short",
            defaults={"custom": {"drawStyle": "bars", "stacking": {"mode": "normal"}}},
        ),
        Panel(
            "Reloads",
            "Model loads after start-up in the selected time range, by result.",
            (
                Query(
                    "sum by (result) "
                    f"(increase(mlship_model_reloads_total{{{SELECTED}}}[$__range]))",
                    "{{result}}",
                    instant=True,
                ),
            ),
            "short",
            kind="stat",
            width=6,
            defaults={"decimals": 0},
        ),
        Panel(
            "Load time",
            "Average time to fetch, load and smoke-check a version, in the selected range.",
            (
                Query(
                    "sum(increase(mlship_model_load_duration_seconds_sum"
                    f"{{{SELECTED}}}[$__range])) / "
                    "sum(increase(mlship_model_load_duration_seconds_count"
                    f"{{{SELECTED}}}[$__range]))",
                    "average load time",
                    instant=True,
                ),
            ),
            "s",
            kind="stat",
            width=6,
        ),
    ]


def _inference_time() -> list[Panel]:
    inference = f"mlship_inference_duration_seconds_bucket{{{MODEL_SELECTED}}}"
    http = f'mlship_http_request_duration_seconds_bucket{{{SELECTED}, route=~"/predict.*"}}'
    return [
        Panel(
            "Inference time vs HTTP time",
            "Model time alone (per endpoint) against the whole HTTP request of the "
            "prediction routes: the gap is parsing, validation and serialisation.",
            (
                Query(
                    f"histogram_quantile(0.5, sum by (le, endpoint) (rate({inference}{RATE})))",
                    "model p50 {{endpoint}}",
                ),
                Query(
                    f"histogram_quantile(0.99, sum by (le, endpoint) (rate({inference}{RATE})))",
                    "model p99 {{endpoint}}",
                ),
                Query(
                    f"histogram_quantile(0.5, sum by (le, route) (rate({http}{RATE})))",
                    "HTTP p50 {{route}}",
                ),
                Query(
                    f"histogram_quantile(0.99, sum by (le, route) (rate({http}{RATE})))",
                    "HTTP p99 {{route}}",
                ),
            ),
            "s",
            width=24,
        ),
    ]


def build() -> Json:
    selected_api = 'label_values(mlship_model_loaded{job="$job"}, instance)'
    return dashboard(
        uid=UID,
        title="Model",
        description="The model the API serves: versions, reloads, predictions, drift, timing.",
        variables=[
            query_variable(
                "job", "Job", "label_values(mlship_model_loaded, job)", default="mlship-api"
            ),
            # The registered models the job's replicas predicted with (the model label).
            query_variable(
                "model", "Model", 'label_values(mlship_predictions_total{job="$job"}, model)'
            ),
            query_variable("instance", "Replica", selected_api, multi=True),
            # The selected model's features, by the names its signature gives them.
            query_variable(
                "feature",
                "Feature",
                'label_values(mlship_feature_quantile_count{job="$job", model="$model"}, feature)',
                multi=True,
            ),
        ],
        annotations=[
            {
                "name": "Model reloads",
                "datasource": DATASOURCE,
                "enable": True,
                "iconColor": "purple",
                "expr": "sum by (result) "
                f'(increase(mlship_model_reloads_total{{job="$job"}}{RATE})) > 0',
                "titleFormat": "Model reload: {{result}}",
                "textFormat": "Model reload on a replica: {{result}}.",
                "tagKeys": "result",
                "step": "1m",
            }
        ],
        rows=[
            ("Serving", _served()),
            ("Predictions", prediction_panels()),
            ("Features", feature_panels()),
            ("Inference time", _inference_time()),
        ],
    )
