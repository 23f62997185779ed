"""Health alerts of the API replicas: targets down or absent, no model, failed reloads.

These are per replica (job, instance): the gauges and counters they read are
the process's own and carry no model label.
"""

from __future__ import annotations

from observability.generator.promrules import Alert, Group, RuleFile
from observability.generator.signals import API_JOB

API = f'job="{API_JOB}"'
FAILED = f'mlship_model_reloads_total{{{API}, result="failed"}}'
RELOAD_WINDOW = "15m"


def alerts() -> RuleFile:
    return RuleFile(
        "api-alerts.yml",
        "Health of the inference API replicas and of the model they serve.\n"
        "Every alert carries severity (page: act now; ticket: act within a working\n"
        "day), a summary, a description and a one-line runbook (details in\n"
        'observability/README.md, section "Runbooks").',
        (
            Group(
                "mlship-api-health",
                (
                    Alert(
                        "MlshipApiTargetDown",
                        f"up{{{API}}} == 0",
                        "page",
                        "API replica {{ $labels.instance }} is down",
                        "Prometheus cannot scrape /metrics of {{ $labels.instance }} for 1 minute.",
                        "Check the replica's health (GET /health/live, /health/ready) and logs "
                        "(make logs); restart it if it does not answer.",
                        wait="1m",
                    ),
                    Alert(
                        "MlshipApiTargetAbsent",
                        f"absent(up{{{API}}})",
                        "page",
                        "No API replica is being scraped",
                        f"Service discovery returns no target for job {API_JOB}: no replica "
                        "runs or its name does not resolve.",
                        "Check that the api service runs (docker compose ps api) and that "
                        "Prometheus resolves its name (Status > Service Discovery).",
                        wait="2m",
                    ),
                    Alert(
                        "MlshipModelNotLoaded",
                        f"min by (job, instance) (mlship_model_loaded{{{API}}}) == 0\n"
                        "or\n"
                        f"(up{{{API}}} == 1 unless on (job, instance) mlship_model_loaded)\n",
                        "page",
                        "API replica {{ $labels.instance }} serves no model",
                        "mlship_model_loaded is 0 or missing on {{ $labels.instance }} for "
                        "2 minutes: predictions fail with 503.",
                        "Read GET /model and the API log for the load error; check the registry "
                        "(mlship_registry_reachable) and the production alias (make status).",
                        wait="2m",
                        comment="Not loaded, or the gauge missing from a replica that answers "
                        "scrapes.",
                    ),
                    Alert(
                        "MlshipModelReloadFailed",
                        f"sum by (job, instance) (increase({FAILED}[{RELOAD_WINDOW}])) > 0\n"
                        "or\n"
                        "(\n"
                        f"  sum by (job, instance) ({FAILED}) > 0\n"
                        "  unless on (job, instance)\n"
                        f"  {FAILED} offset {RELOAD_WINDOW}\n"
                        ")\n",
                        "ticket",
                        "Model reload failed on {{ $labels.instance }}",
                        f"A new model version could not be loaded in the last {RELOAD_WINDOW[:-1]} "
                        "minutes; the replica still serves the version it had.",
                        "Read the API log for the reload error; fix the version (make rollback "
                        "moves production back) and POST /admin/reload.",
                        comment="The API keeps serving the previous version after a failed "
                        "reload.\nThe second arm covers a counter whose first sample already "
                        "counts a failure.",
                    ),
                ),
            ),
        ),
    )
