"""The one source of truth of what is monitored: the data the rules and dashboards share.

Every number, window, route pattern and recorded series name that appears in a
rule file and on a dashboard is defined here once; the rule and dashboard
modules only turn it into YAML and JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

API_JOB = "mlship-api"
# The HTTP metrics carry no model label: an API deployment serves one model and
# the SLOs are the deployment's (its scrape job). The model metrics carry the
# registered model name as `model`, so that two models never mix.
SERVICE_LABELS = ("job",)
MODEL_LABELS = ("job", "model")

# Scrapes and probes are not user traffic: the SLIs leave these routes out.
NOT_USER_TRAFFIC = ("/metrics", "/health/.*", "/v2/health/.*")
USER_TRAFFIC = f'route!~"{"|".join(NOT_USER_TRAFFIC)}"'


@dataclass(frozen=True)
class Slo:
    """A service level objective: ``objective`` of the user requests are good."""

    name: str  # availability, latency
    title: str  # as in an alert name: MlshipAvailabilityBudgetBurnFast
    budget_name: str  # "error budget", "latency budget"
    objective: float
    promise: str  # what "good" means, for annotations and panel descriptions
    recorded: str  # the bad-request ratio, recorded per window as f"{recorded}{window}"
    runbook: str

    @property
    def budget(self) -> float:
        return round(1 - self.objective, 6)


@dataclass(frozen=True)
class BurnAlert:
    """A multi-window burn-rate alert: both windows burn faster than ``factor``."""

    suffix: str  # Fast, Medium, Slow
    long: str
    short: str
    factor: float
    wait: str  # the alert's `for`
    severity: str


LATENCY_THRESHOLD = "0.5"  # seconds: an existing bucket of mlship_http_request_duration_seconds
AVAILABILITY = Slo(
    "availability",
    "Availability",
    "error budget",
    0.999,
    "99.9 % of requests without a 5xx",
    "job:mlship_slo_errors:ratio_rate",
    "Find the failing route and status in the Inference API dashboard and the API log; "
    "roll back a new model version with make rollback.",
)
LATENCY = Slo(
    "latency",
    "Latency",
    "latency budget",
    0.99,
    f"99 % of requests within {LATENCY_THRESHOLD} s",
    "job:mlship_slo_slow_requests:ratio_rate",
    "Compare HTTP and inference time in the Model dashboard; check CPU saturation and "
    "batch sizes, scale out the API (more replicas) if it is saturated.",
)
SLOS = (AVAILABILITY, LATENCY)
# Google SRE workbook, chapter 5: 2 % of a 30-day budget in 1 hour, 5 % in 6 hours,
# 10 % in 3 days.
BURN_ALERTS = (
    BurnAlert("Fast", "1h", "5m", 14.4, "2m", "page"),
    BurnAlert("Medium", "6h", "30m", 6, "15m", "page"),
    BurnAlert("Slow", "3d", "6h", 1, "1h", "ticket"),
)
SLO_PERIOD = "30d"  # the budget burn rates and the dashboards' "budget left" count over it


def seconds(window: str) -> int:
    """A Prometheus duration of one unit (5m, 1h, 3d) in seconds."""
    return int(window[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[window[-1]]


SLI_WINDOWS = tuple(
    sorted({window for alert in BURN_ALERTS for window in (alert.long, alert.short)}, key=seconds)
)
SLO_REQUESTS = "job:mlship_slo_requests:rate"  # per window, also the traffic guard
MIN_REQUESTS_PER_SECOND = 0.1  # over the long window: a few failures when idle page nobody

# Drift: the last hour against the same hour a day earlier (predictions) or
# against the training deciles (features).
DRIFT_WINDOW = "1h"
BASELINE_OFFSET = "1d"
CLASS_SHARE_SHIFT = 0.2
MIN_PREDICTIONS = 100  # in both hours
# mlship_feature_quantile's buckets: the upper bound of each training decile.
DECILES = tuple(f"{step / 10:.1f}" for step in range(1, 11))
PSI_MODERATE = 0.1
PSI_SIGNIFICANT = 0.25  # alert
MIN_FEATURE_VALUES = 200  # in the hour
SHARE_FLOOR = 0.001  # an empty decile scores high instead of infinite

# Recorded model signals, per job and model (the prefix names the labels kept).
PREDICTIONS_RATE = "job_model:mlship_predictions:rate1h"
PREDICTIONS_RATE_BASELINE = "job_model:mlship_predictions:rate1h_offset1d"
CLASS_SHARE = "job_model_predicted_class:mlship_predictions:share1h"
CLASS_SHARE_BASELINE = "job_model_predicted_class:mlship_predictions:share1h_offset1d"
FEATURE_OBSERVATIONS = "job_model_feature:mlship_feature_observations:rate1h"
DECILE_SHARE = "job_model_feature_decile:mlship_feature_quantile:share1h"
FEATURE_PSI = "job_model_feature:mlship_feature_psi:1h"


def by(*labels: str) -> str:
    """A PromQL grouping clause: ``by (job, model)``."""
    return f"by ({', '.join(labels)})"


def on(*labels: str) -> str:
    """A PromQL matching clause: ``on (job, model)``."""
    return f"on ({', '.join(labels)})"
