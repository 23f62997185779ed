"""promtool unit tests of the SLO burn-rate alerts (slo-recording.yml, slo-alerts.yml)."""

from __future__ import annotations

from observability.generator import slo_rules
from observability.generator.signals import (
    API_JOB,
    LATENCY_THRESHOLD,
    MIN_REQUESTS_PER_SECOND,
    SLO_REQUESTS,
    Slo,
    seconds,
)
from observability.generator.signals import AVAILABILITY as AVAILABILITY_SLO
from observability.generator.signals import LATENCY as LATENCY_SLO
from observability.generator.unittests import (
    Case,
    Json,
    TestFile,
    alert_named,
    fires,
    sample,
    series,
    silent,
)

ALERTS = slo_rules.alerts()
JOB = {"job": API_JOB}
PREDICT = {**JOB, "instance": "api-1:8000", "route": "/predict", "method": "POST"}
STEPS = 130  # minutes of history: beyond the 110m at which the slow (3d) alerts are checked


def _requests(per_minute: float, status_class: str, route: str = "/predict") -> Json:
    labels = {**PREDICT, "route": route, "method": "POST" if route == "/predict" else "GET"}
    return series(
        "mlship_http_requests_total",
        f"0+{per_minute:g}x{STEPS}",
        **labels,
        status_class=status_class,
    )


def _timed(fast: float, total: float) -> list[Json]:
    """Requests a minute within the latency threshold, and all of them (all succeed)."""
    metric = "mlship_http_request_duration_seconds"
    return [
        series(f"{metric}_bucket", f"0+{fast:g}x{STEPS}", **PREDICT, le=LATENCY_THRESHOLD),
        series(f"{metric}_bucket", f"0+{total:g}x{STEPS}", **PREDICT, le="+Inf"),
        series(f"{metric}_count", f"0+{total:g}x{STEPS}", **PREDICT),
        _requests(total, "2xx"),
    ]


def _failing(per_minute: float) -> list[Json]:
    return [_requests(600, "2xx"), _requests(per_minute, "5xx")]


def _availability() -> tuple[Case, ...]:
    fast, medium, slow = (
        alert_named(ALERTS, f"MlshipAvailabilityBudgetBurn{s}") for s in ("Fast", "Medium", "Slow")
    )
    quiet = [silent(fast, "70m"), silent(medium, "70m"), silent(slow, "110m")]
    return (
        Case(
            "availability - 9 % of requests fail: fast burn pages",
            "1m",
            _failing(60),
            [silent(fast, "1m"), fires(fast, "20m", JOB), fires(medium, "30m", JOB)],
        ),
        Case(
            "availability - 1 % of requests fail: medium burn pages, fast does not",
            "1m",
            _failing(6),
            [silent(fast, "20m"), fires(medium, "30m", JOB), silent(slow, "20m")],
        ),
        Case(
            "availability - 0.3 % of requests fail: a ticket once the 3d window holds enough "
            "traffic",
            "1m",
            _failing(2),
            [
                silent(fast, "70m"),
                silent(medium, "70m"),
                silent(slow, "30m"),
                fires(slow, "110m", JOB),
            ],
        ),
        Case(
            "availability - half of a trickle of requests fail: below the traffic guard",
            "1m",
            [_requests(1.5, "2xx"), _requests(1.5, "5xx")],
            quiet,
        ),
        Case(
            "availability - failing probes and scrapes are not user traffic",
            "1m",
            [
                _requests(600, "2xx"),
                _requests(600, "5xx", route="/health/ready"),
                _requests(60, "5xx", route="/metrics"),
            ],
            quiet,
            # No server error among the SLO's routes is a ratio of 0, not "no data".
            (
                sample(f"{AVAILABILITY_SLO.recorded}5m", "10m", 0, _labels(AVAILABILITY_SLO)),
                sample(f"{SLO_REQUESTS}5m", "10m", 10, f'{SLO_REQUESTS}5m{{job="{API_JOB}"}}'),
            ),
        ),
    )


def _labels(slo: Slo, window: str = "5m") -> str:
    return f'{slo.recorded}{window}{{job="{API_JOB}"}}'


def _latency() -> tuple[Case, ...]:
    fast, medium, slow = (
        alert_named(ALERTS, f"MlshipLatencyBudgetBurn{s}") for s in ("Fast", "Medium", "Slow")
    )
    quiet = [silent(fast, "70m"), silent(medium, "70m"), silent(slow, "110m")]
    return (
        Case(
            f"latency - 20 % of requests slower than {LATENCY_THRESHOLD} s: fast burn pages",
            "1m",
            _timed(480, 600),
            [silent(fast, "1m"), fires(fast, "20m", JOB), fires(medium, "30m", JOB)],
        ),
        Case(
            f"latency - 10 % slower than {LATENCY_THRESHOLD} s: medium burn pages, fast does not",
            "1m",
            _timed(540, 600),
            [silent(fast, "20m"), fires(medium, "30m", JOB), silent(slow, "20m")],
        ),
        Case(
            f"latency - 3 % slower than {LATENCY_THRESHOLD} s: a ticket once the 3d window "
            "holds enough traffic",
            "1m",
            _timed(582, 600),
            [
                silent(fast, "70m"),
                silent(medium, "70m"),
                silent(slow, "30m"),
                fires(slow, "110m", JOB),
            ],
        ),
        Case(
            "latency - half of a trickle of requests slow: below the traffic guard",
            "1m",
            _timed(1.5, 3),
            quiet,
            (sample(f"{LATENCY_SLO.recorded}1h", "30m", 0.5, _labels(LATENCY_SLO, "1h")),),
        ),
        Case("latency - fast requests raise nothing", "1m", _timed(600, 600), quiet),
    )


def test_file() -> TestFile:
    guard = MIN_REQUESTS_PER_SECOND * seconds("3d")
    return TestFile(
        "slo-alerts.test.yml",
        "promtool test rules: multi-window multi-burn-rate SLO alerts and their SLIs.\n"
        "Traffic is 10 requests/s on /predict unless a test says otherwise.\n\n"
        "Evaluated every 2m, coarser than production's 15 s: same outcomes, a fraction of\n"
        "promtool's time. Recording and alerting rules are separate groups, evaluated in\n"
        "either order: an alert may see the recorded SLIs one evaluation late, so checks\n"
        f"leave a margin. The 3d window's traffic guard ({MIN_REQUESTS_PER_SECOND:g} request/s "
        f"over 3 days) needs\n{guard:,.0f} requests, about {guard / 600:.0f} minutes at 10 "
        "requests/s: the slow-burn cases look later.",
        (slo_rules.recording(), ALERTS),
        "2m",
        (*_availability(), *_latency()),
    )
