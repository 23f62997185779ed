"""The "Inference API" dashboard: traffic, errors, latency, saturation and SLOs."""

from __future__ import annotations

from observability.grafana.generator.grafana import (
    Json,
    Panel,
    Query,
    dashboard,
    query_variable,
    thresholds,
)

UID = "mlship-inference-api"
# Scrapes and probes are not user traffic: the SLOs (rules/slo-recording.yml) leave them out.
SLO_ROUTES = 'route!~"/metrics|/health/.*|/v2/health/.*"'
SELECTED = 'job="$job", instance=~"$instance"'
RATE = "[$__rate_interval]"
AVAILABILITY_BUDGET = 0.001  # 99.9 % of requests without a 5xx
LATENCY_BUDGET = 0.01  # 99 % of requests within 0.5 s
BURN_WINDOWS = ("5m", "30m", "1h", "6h", "3d")


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


def _budget_remaining_30d(bad_ratio: str, budget: float) -> str:
    return f"1 - ({bad_ratio}) / {budget}"


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
            "Requests slower than 0.5 s",
            "Share of user requests over the latency SLO's threshold (0.5 s).",
            (
                Query(
                    "1 - sum(rate(mlship_http_request_duration_seconds_bucket"
                    f'{{{SELECTED}, {SLO_ROUTES}, le="0.5"}}{RATE})) / '
                    "sum(rate(mlship_http_request_duration_seconds_count"
                    f"{{{SELECTED}, {SLO_ROUTES}}}{RATE}))",
                    "slower than 0.5 s",
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


def _burn_rate(recorded: str, budget: float, title: str, what: str) -> Panel:
    return Panel(
        title,
        f"{what} budget burn rate per window (1 = the budget lasts exactly the SLO period). "
        "Pages at 14.4 (1h and 5m) and 6 (6h and 30m), tickets at 1 (3d and 6h).",
        tuple(
            Query(f'{recorded}{window}{{job="$job"}} / {budget}', window) for window in BURN_WINDOWS
        ),
        "suffix:x",
        defaults={
            "thresholds": thresholds((None, "green"), (1, "orange"), (6, "red"), (14.4, "purple")),
            "custom": {"thresholdsStyle": {"mode": "line"}},
        },
    )


def _slo_panels() -> list[Panel]:
    total = f"sum(increase(mlship_http_requests_total{{{SELECTED}, {SLO_ROUTES}}}[30d]))"
    errors = (
        f"(sum(increase(mlship_http_requests_total{{{SELECTED}, {SLO_ROUTES}, "
        f'status_class="5xx"}}[30d])) or vector(0))'
    )
    fast = (
        f"sum(increase(mlship_http_request_duration_seconds_bucket{{{SELECTED}, {SLO_ROUTES}, "
        f'le="0.5"}}[30d]))'
    )
    all_timed = (
        "sum(increase(mlship_http_request_duration_seconds_count"
        f"{{{SELECTED}, {SLO_ROUTES}}}[30d]))"
    )
    budget_thresholds = thresholds((None, "red"), (0.25, "orange"), (0.5, "green"))
    return [
        _burn_rate(
            "job:mlship_slo_errors:ratio_rate", AVAILABILITY_BUDGET, "Availability burn rate", "5xx"
        ),
        _burn_rate(
            "job:mlship_slo_slow_requests:ratio_rate",
            LATENCY_BUDGET,
            "Latency burn rate",
            "Latency (0.5 s)",
        ),
        Panel(
            "Availability error budget left (30 days)",
            "Share of the 30-day budget of 0.1 % failed requests that is not spent yet.",
            (
                Query(
                    _budget_remaining_30d(f"{errors} / {total}", AVAILABILITY_BUDGET),
                    "budget left",
                    instant=True,
                ),
            ),
            "percentunit",
            kind="stat",
            defaults={"thresholds": budget_thresholds},
        ),
        Panel(
            "Latency error budget left (30 days)",
            "Share of the 30-day budget of 1 % requests slower than 0.5 s that is not spent yet.",
            (
                Query(
                    _budget_remaining_30d(f"1 - {fast} / {all_timed}", LATENCY_BUDGET),
                    "budget left",
                    instant=True,
                ),
            ),
            "percentunit",
            kind="stat",
            defaults={"thresholds": budget_thresholds},
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
            ("Service level objectives", _slo_panels()),
        ],
    )
