"""Panels of the "Inference API" dashboard about the SLOs: burn rates and budget left."""

from __future__ import annotations

from observability.generator.grafana import Panel, Query, thresholds
from observability.generator.signals import (
    AVAILABILITY,
    BURN_ALERTS,
    LATENCY,
    LATENCY_THRESHOLD,
    SLI_WINDOWS,
    SLO_PERIOD,
    USER_TRAFFIC,
    BurnAlert,
    Slo,
    seconds,
)

SELECTED = 'job="$job", instance=~"$instance"'
SLO_ROUTES = USER_TRAFFIC
SLOW = f'le="{LATENCY_THRESHOLD}"'


def _budget_remaining(bad_ratio: str, budget: float) -> str:
    return f"1 - ({bad_ratio}) / {budget:g}"


def _burn_rate(slo: Slo, title: str, what: str) -> Panel:
    pages = [b for b in BURN_ALERTS if b.severity == "page"]
    tickets = [b for b in BURN_ALERTS if b.severity == "ticket"]

    def at(alerts: list[BurnAlert]) -> str:
        return " and ".join(f"{b.factor:g} ({b.long} and {b.short})" for b in alerts)

    levels = sorted({b.factor for b in BURN_ALERTS})
    colours = ("orange", "red", "purple")
    return Panel(
        title,
        f"{what} budget burn rate per window (1 = the budget lasts exactly the SLO period). "
        f"Pages at {at(pages)}, tickets at {at(tickets)}.",
        tuple(
            Query(f'{slo.recorded}{window}{{job="$job"}} / {slo.budget:g}', window)
            for window in SLI_WINDOWS
        ),
        "suffix:x",
        defaults={
            "thresholds": thresholds(
                (None, "green"), *zip(levels, colours[-len(levels) :], strict=True)
            ),
            "custom": {"thresholdsStyle": {"mode": "line"}},
        },
    )


def slo_panels() -> list[Panel]:
    period = f"[{SLO_PERIOD}]"
    days = seconds(SLO_PERIOD) // 86400
    total = f"sum(increase(mlship_http_requests_total{{{SELECTED}, {SLO_ROUTES}}}{period}))"
    errors = (
        f"(sum(increase(mlship_http_requests_total{{{SELECTED}, {SLO_ROUTES}, "
        f'status_class="5xx"}}{period})) or vector(0))'
    )
    fast = (
        f"sum(increase(mlship_http_request_duration_seconds_bucket{{{SELECTED}, {SLO_ROUTES}, "
        f"{SLOW}}}{period}))"
    )
    all_timed = (
        "sum(increase(mlship_http_request_duration_seconds_count"
        f"{{{SELECTED}, {SLO_ROUTES}}}{period}))"
    )
    budget_thresholds = thresholds((None, "red"), (0.25, "orange"), (0.5, "green"))
    return [
        _burn_rate(AVAILABILITY, "Availability burn rate", "5xx"),
        _burn_rate(LATENCY, "Latency burn rate", f"Latency ({LATENCY_THRESHOLD} s)"),
        Panel(
            f"Availability error budget left ({days} days)",
            f"Share of the {days}-day budget of {AVAILABILITY.budget * 100:g} % failed requests "
            "that is not spent yet.",
            (
                Query(
                    _budget_remaining(f"{errors} / {total}", AVAILABILITY.budget),
                    "budget left",
                    instant=True,
                ),
            ),
            "percentunit",
            kind="stat",
            defaults={"thresholds": budget_thresholds},
        ),
        Panel(
            f"Latency error budget left ({days} days)",
            f"Share of the {days}-day budget of {LATENCY.budget * 100:g} % requests slower than "
            f"{LATENCY_THRESHOLD} s that is not spent yet.",
            (
                Query(
                    _budget_remaining(f"1 - {fast} / {all_timed}", LATENCY.budget),
                    "budget left",
                    instant=True,
                ),
            ),
            "percentunit",
            kind="stat",
            defaults={"thresholds": budget_thresholds},
        ),
    ]
