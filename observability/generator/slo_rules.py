"""SLO rule files: the SLIs recorded per window, and the multi-window burn-rate alerts."""

from __future__ import annotations

from observability.generator.promrules import Alert, Group, Record, RuleFile
from observability.generator.signals import (
    AVAILABILITY,
    BURN_ALERTS,
    LATENCY,
    LATENCY_THRESHOLD,
    MIN_REQUESTS_PER_SECOND,
    NOT_USER_TRAFFIC,
    SERVICE_LABELS,
    SLI_WINDOWS,
    SLO_PERIOD,
    SLO_REQUESTS,
    SLOS,
    USER_TRAFFIC,
    BurnAlert,
    Slo,
    by,
    on,
    seconds,
)

BY = by(*SERVICE_LABELS)
ON = on(*SERVICE_LABELS)


def _rate(metric: str, window: str, matchers: str = "") -> str:
    selector = ", ".join(part for part in (matchers, USER_TRAFFIC) if part)
    return f"sum {BY} (rate({metric}{{{selector}}}[{window}]))"


def _requests(window: str) -> Record:
    return Record(f"{SLO_REQUESTS}{window}", _rate("mlship_http_requests_total", window))


def _errors(window: str) -> Record:
    requests = _rate("mlship_http_requests_total", window)
    errors = _rate("mlship_http_requests_total", window, 'status_class="5xx"')
    return Record(
        f"{AVAILABILITY.recorded}{window}",
        f"(\n  {errors}\n  or\n  0 * {requests}\n)\n/\n{requests}\n",
    )


def _slow(window: str) -> Record:
    fast = _rate("mlship_http_request_duration_seconds_bucket", window, f'le="{LATENCY_THRESHOLD}"')
    timed = _rate("mlship_http_request_duration_seconds_count", window)
    return Record(f"{LATENCY.recorded}{window}", f"1 - (\n  {fast}\n  /\n  {timed}\n)\n")


def recording() -> RuleFile:
    requests = [_requests(window) for window in SLI_WINDOWS]
    errors = [_errors(window) for window in SLI_WINDOWS]
    slow = [_slow(window) for window in SLI_WINDOWS]
    return RuleFile(
        "slo-recording.yml",
        "Service level indicators of the inference API, per scrape job and window.\n"
        f"Probes and scrapes ({', '.join(NOT_USER_TRAFFIC)}) are not user traffic and are "
        "left out.\n"
        f"{', '.join(SLI_WINDOWS)} are the short and long windows of the multi-window\n"
        "multi-burn-rate alerts in slo-alerts.yml.",
        (
            Group(
                "mlship-api-sli",
                (
                    Record(
                        requests[0].name,
                        requests[0].expr,
                        comment="Requests per second the SLOs count "
                        "(also the alerts' minimum-traffic guard).",
                    ),
                    *requests[1:],
                    Record(
                        errors[0].name,
                        errors[0].expr,
                        comment="Availability SLI: share of 5xx answers. The `or 0 * ...` arm "
                        'makes it 0,\nnot "no data", while traffic flows without a single '
                        "server error.",
                    ),
                    *errors[1:],
                    Record(
                        slow[0].name,
                        slow[0].expr,
                        comment=f"Latency SLI: share of requests slower than {LATENCY_THRESHOLD} s "
                        "(a bucket of the histogram).",
                    ),
                    *slow[1:],
                ),
            ),
        ),
    )


def _factor(burn: BurnAlert) -> str:
    return f"{burn.factor:g}"


def _burn_alert(slo: Slo, burn: BurnAlert) -> Alert:
    threshold = f"({_factor(burn)} * {slo.budget:g})"
    return Alert(
        f"Mlship{slo.title}BudgetBurn{burn.suffix}",
        "(\n"
        f"  {slo.recorded}{burn.long} > {threshold}\n"
        f"  and {ON}\n"
        f"  {slo.recorded}{burn.short} > {threshold}\n"
        ")\n"
        f"and {ON}\n"
        f"{SLO_REQUESTS}{burn.long} >= {MIN_REQUESTS_PER_SECOND:g}\n",
        burn.severity,
        f"{{{{ $labels.job }}}} burns its {slo.name} error budget at more than {_factor(burn)}x",
        f"Over the last {burn.long} and {burn.short}, {{{{ $labels.job }}}} spends its "
        f"{slo.budget_name} ({slo.promise}) at more than {_factor(burn)} times the "
        "sustainable rate.",
        slo.runbook,
        wait=burn.wait,
        labels={"slo": slo.name, "window": burn.long},
    )


def alerts() -> RuleFile:
    guard = 3600 * MIN_REQUESTS_PER_SECOND
    lines = [
        f"  {_factor(b).rjust(4)}x over {b.long} and {b.short} -> {b.severity} "
        f"({b.factor * seconds(b.long) / seconds(SLO_PERIOD):.0%} of a {SLO_PERIOD} budget "
        f"in {b.long})"
        for b in BURN_ALERTS
    ]
    return RuleFile(
        "slo-alerts.yml",
        "Multi-window multi-burn-rate SLO alerts (Google SRE workbook, chapter 5).\n"
        + "".join(
            f"{slo.title} SLO: {slo.promise} (error budget {slo.budget * 100:g} %).\n"
            for slo in SLOS
        )
        + "A burn rate of 1 spends the budget exactly over the SLO period; an alert fires\n"
        "when the long window AND the short window both burn faster than:\n"
        + "\n".join(lines)
        + "\nMinimum-traffic guard: the long window must average at least "
        f"{MIN_REQUESTS_PER_SECOND:g} request/s\n({guard:.0f} requests an hour), so that a "
        "handful of failures on an idle service\npages nobody. The SLIs are recorded in "
        "slo-recording.yml.",
        (Group("mlship-api-slo", tuple(_burn_alert(slo, b) for slo in SLOS for b in BURN_ALERTS)),),
    )
