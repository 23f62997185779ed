"""The "Platform" dashboard: scrape targets, the MLflow tracking server, Prometheus itself.

(Not named ``platform``: a module of that name would shadow the standard library.)
"""

from __future__ import annotations

from observability.generator.grafana import Json, Panel, Query, dashboard, value_names

UID = "mlship-platform"
RATE = "[$__rate_interval]"
MLFLOW = 'job="mlflow"'
PROMETHEUS = 'job="prometheus"'


def _targets() -> list[Panel]:
    return [
        Panel(
            "Targets up",
            "Every scrape target of every job: the API replicas, MLflow and Prometheus.",
            (Query("up", "{{job}} {{instance}}", instant=True),),
            "none",
            kind="stat",
            width=24,
            height=4,
            defaults={"mappings": value_names({"1": ("up", "green"), "0": ("down", "red")})},
            options={"colorMode": "background", "graphMode": "none", "textMode": "value_and_name"},
        ),
        Panel(
            "Scrape duration by job",
            "Slowest scrape per job; close to the scrape timeout (10 s) means lost samples.",
            (Query("max by (job) (scrape_duration_seconds)", "{{job}}"),),
            "s",
        ),
        Panel(
            "Samples per scrape by job",
            "Series exposed per target: a jump means a label's cardinality exploded.",
            (Query("sum by (job) (scrape_samples_scraped)", "{{job}}"),),
            "short",
        ),
    ]


def _mlflow() -> list[Panel]:
    requests = f"mlflow_http_request_total{{{MLFLOW}}}"
    buckets = f"mlflow_http_request_duration_seconds_bucket{{{MLFLOW}}}"
    errors = f'mlflow_http_request_total{{{MLFLOW}, status=~"5.."}}'
    return [
        Panel(
            "MLflow request rate",
            "Requests to the tracking server and registry by HTTP status "
            "(the API polls the registry for alias moves).",
            (Query(f"sum by (status) (rate({requests}{RATE}))", "{{status}}"),),
            "reqps",
            width=8,
        ),
        Panel(
            "MLflow latency",
            "Request duration quantiles of the tracking server.",
            tuple(
                Query(
                    f"histogram_quantile({q}, sum by (le) (rate({buckets}{RATE})))",
                    f"p{round(q * 100)}",
                )
                for q in (0.5, 0.99)
            ),
            "s",
            width=8,
        ),
        Panel(
            "MLflow server errors",
            "Share of tracking-server requests answered with a 5xx.",
            (
                Query(
                    f"(sum(rate({errors}{RATE})) or vector(0)) / sum(rate({requests}{RATE}))",
                    "5xx",
                ),
            ),
            "percentunit",
            width=8,
        ),
    ]


def _prometheus() -> list[Panel]:
    return [
        Panel(
            "Firing alerts",
            "Alerts firing now (Prometheus > Alerts lists them).",
            (Query('count(ALERTS{alertstate="firing"}) or vector(0)', "firing", instant=True),),
            "none",
            kind="stat",
            width=6,
            defaults={
                "thresholds": {
                    "mode": "absolute",
                    "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}],
                }
            },
        ),
        Panel(
            "Configuration loaded",
            "Whether the last configuration (re)load succeeded.",
            (Query(f"prometheus_config_last_reload_successful{{{PROMETHEUS}}}", "config"),),
            "none",
            kind="stat",
            width=6,
            defaults={"mappings": value_names({"1": ("ok", "green"), "0": ("failed", "red")})},
        ),
        Panel(
            "Rule evaluation",
            "Failed rule evaluations per second and the slowest rule group's duration.",
            (
                Query(
                    f"sum(rate(prometheus_rule_evaluation_failures_total{{{PROMETHEUS}}}{RATE}))",
                    "failures/s",
                ),
                Query(
                    f"max(prometheus_rule_group_last_duration_seconds{{{PROMETHEUS}}})",
                    "slowest group (s)",
                ),
            ),
            "short",
            width=12,
        ),
        Panel(
            "Ingestion",
            "Samples appended per second and series in the head block.",
            (
                Query(
                    f"rate(prometheus_tsdb_head_samples_appended_total{{{PROMETHEUS}}}{RATE})",
                    "samples/s",
                ),
                Query(f"prometheus_tsdb_head_series{{{PROMETHEUS}}}", "head series"),
            ),
            "short",
        ),
        Panel(
            "Prometheus memory",
            "Resident memory of the Prometheus process.",
            (Query(f"process_resident_memory_bytes{{{PROMETHEUS}}}", "resident"),),
            "bytes",
        ),
    ]


def build() -> Json:
    return dashboard(
        uid=UID,
        title="Platform",
        description="Scrape targets, the MLflow tracking server and Prometheus' own health.",
        rows=[
            ("Targets", _targets()),
            ("MLflow tracking server", _mlflow()),
            ("Prometheus", _prometheus()),
        ],
    )
