"""The "Inference API" dashboard: traffic, errors, latency, saturation and SLOs."""

from __future__ import annotations

from observability.generator.grafana import (
    Json,
    Panel,
    Query,
    dashboard,
    query_variable,
    thresholds,
)
from observability.generator.signals import LATENCY_THRESHOLD
from observability.generator.slo_panels import SELECTED, SLO_ROUTES, SLOW, slo_panels

UID = "mlship-inference-api"
RATE = "[$__rate_interval]"


def _requests(matchers: str = "") -> str:
    selector = ", ".join(part for part in (SELECTED, SLO_ROUTES, matchers) if part)
    return f"rate(mlship_http_requests_total{{{selector}}}{RATE})"


def _error_ratio(status_class: str) -> str:
    # `or vector(0)`: no error at all is a ratio of 0, not an empty panel.
    matcher = f'status_class="{status_class}"'
    return f"(sum({_requests(matcher)}) or vector(0)) / sum({_requests()})"


def _latency(quantile: float, by: str = "le") -> str:
    buckets = f"mlship_http_request_duration_seconds_bucket{{{SELECTED}, {SLO_ROUTES}}}"
    return f"histogram_quantile({quantile}, sum by ({by}) (rate({buckets}{RATE})))"


def _traffic() -> list[Panel]:
    return [
        Panel(
            "Request rate",
            "User requests per second (scrapes and probes excluded).",
            (Query(f"sum({_requests()})", "requests/s"),),
            "reqps",
            kind="stat",
            width=6,
            height=4,
        ),
        Panel(
            "Server error ratio",
            "Share of user requests answered with a 5xx.",
            (Query(_error_ratio("5xx"), "5xx"),),
            "percentunit",
            kind="stat",
            width=6,
            height=4,
            defaults={"thresholds": thresholds((None, "green"), (0.001, "orange"), (0.01, "red"))},
        ),
        Panel(
            "Latency p99",
            "99th percentile of the request duration of user requests.",
            (Query(_latency(0.99), "p99"),),
            "s",
            kind="stat",
            width=6,
            height=4,
            defaults={"thresholds": thresholds((None, "green"), (0.25, "orange"), (0.5, "red"))},
        ),
        Panel(
            "In-flight requests",
            "Requests being served right now, all routes.",
            (Query(f"sum(mlship_http_requests_in_flight{{{SELECTED}}})", "in flight"),),
            "short",
            kind="stat",
            width=6,
            height=4,
        ),
        Panel(
            "Requests by route and status",
            "Per route template and status class; `unmatched` counts requests to unknown paths.",
            (
                Query(
                    "sum by (route, status_class) "
                    f"(rate(mlship_http_requests_total{{{SELECTED}}}{RATE}))",
                    "{{route}} {{status_class}}",
                ),
            ),
            "reqps",
        ),
        Panel(
            "Error ratio",
            "5xx (server, counts against the SLO) and 4xx (client) shares of user requests.",
            (Query(_error_ratio("5xx"), "5xx"), Query(_error_ratio("4xx"), "4xx")),
            "percentunit",
        ),
    ]


def _latency_panels() -> list[Panel]:
    return [
        Panel(
            "Latency p50 / p90 / p99",
            "Request duration quantiles of user requests, from the histogram.",
            tuple(Query(_latency(q), f"p{round(q * 100)}") for q in (0.5, 0.9, 0.99)),
            "s",
        ),
        Panel(
            "Latency p99 by route",
            "Which route is slow.",
            (Query(_latency(0.99, "le, route"), "{{route}}"),),
            "s",
        ),
        Panel(
            f"Requests slower than {LATENCY_THRESHOLD} s",
            f"Share of user requests over the latency SLO's threshold ({LATENCY_THRESHOLD} s).",
            (
                Query(
                    "1 - sum(rate(mlship_http_request_duration_seconds_bucket"
                    f"{{{SELECTED}, {SLO_ROUTES}, {SLOW}}}{RATE})) / "
                    "sum(rate(mlship_http_request_duration_seconds_count"
                    f"{{{SELECTED}, {SLO_ROUTES}}}{RATE}))",
                    f"slower than {LATENCY_THRESHOLD} s",
                ),
            ),
            "percentunit",
        ),
        Panel(
            "In-flight requests by replica",
            "Concurrency per replica: a saturated replica queues requests.",
            (
                Query(
                    f"sum by (instance) (mlship_http_requests_in_flight{{{SELECTED}}})",
                    "{{instance}}",
                ),
            ),
            "short",
        ),
    ]


def build() -> Json:
    return dashboard(
        uid=UID,
        title="Inference API",
        description="Traffic, errors, latency and SLOs of the mlship inference API.",
        variables=[
            query_variable(
                "job",
                "Job",
                "label_values(mlship_http_requests_total, job)",
                default="mlship-api",
            ),
            query_variable(
                "instance",
                "Replica",
                'label_values(mlship_http_requests_total{job="$job"}, instance)',
                multi=True,
            ),
        ],
        rows=[
            ("Traffic and errors", _traffic()),
            ("Latency and saturation", _latency_panels()),
            ("Service level objectives", slo_panels()),
        ],
    )
