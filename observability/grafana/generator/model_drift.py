"""Panels of the "Model" dashboard about what the model predicts and what it sees (drift)."""

from __future__ import annotations

from observability.grafana.generator.grafana import Panel, Query, thresholds

SELECTED = 'job="$job", instance=~"$instance"'
RATE = "[$__rate_interval]"
PSI = thresholds((None, "green"), (0.1, "orange"), (0.25, "red"))


def prediction_panels() -> list[Panel]:
    confidence = f"mlship_prediction_confidence_bucket{{{SELECTED}}}"
    return [
        Panel(
            "Predictions per class",
            "Predicted rows per second by class (batch rows count one by one).",
            (
                Query(
                    "sum by (predicted_class) "
                    f"(rate(mlship_predictions_total{{{SELECTED}}}{RATE}))",
                    "{{predicted_class}}",
                ),
            ),
            "ops",
            defaults={"custom": {"stacking": {"mode": "normal"}}},
        ),
        Panel(
            "Class shares: last hour and a day earlier",
            "Prediction drift: each class's share of the last hour against the same hour "
            "yesterday (alert when one moves by more than 0.2).",
            (
                Query(
                    'job_predicted_class:mlship_predictions:share1h{job="$job"}',
                    "{{predicted_class}} now",
                ),
                Query(
                    'job_predicted_class:mlship_predictions:share1h_offset1d{job="$job"}',
                    "{{predicted_class}} a day earlier",
                ),
            ),
            "percentunit",
        ),
        Panel(
            "Top-class probability",
            "Distribution of the predicted class's probability: mass moving down means "
            "the model is less sure.",
            (Query(f"sum by (le) (rate({confidence}{RATE}))", "{{le}}", format="heatmap"),),
            "short",
            kind="heatmap",
            options={
                "calculate": False,
                "yAxis": {"unit": "percentunit", "axisLabel": "probability"},
                "cellGap": 1,
                "color": {"mode": "scheme", "scheme": "Blues"},
            },
        ),
        Panel(
            "Low-confidence predictions",
            "Share of predictions whose top-class probability is at most 0.6.",
            (
                Query(
                    f'sum(rate(mlship_prediction_confidence_bucket{{{SELECTED}, le="0.6"}}{RATE}))'
                    f" / sum(rate(mlship_prediction_confidence_count{{{SELECTED}}}{RATE}))",
                    "probability <= 0.6",
                ),
            ),
            "percentunit",
        ),
    ]


def feature_panels() -> list[Panel]:
    return [
        Panel(
            "Feature drift (PSI, last hour)",
            "Population stability index of each feature against its training deciles: "
            "< 0.1 stable, 0.1-0.25 moderate, > 0.25 significant (alert).",
            (
                Query(
                    'job_feature:mlship_feature_psi:1h{job="$job", feature=~"$feature"}',
                    "{{feature}}",
                ),
            ),
            "none",
            width=24,
            defaults={"thresholds": PSI, "custom": {"thresholdsStyle": {"mode": "line"}}},
        ),
        Panel(
            "$feature: share per training decile (last hour)",
            "Without drift every decile of the training data holds 10 % of the values.",
            (
                Query(
                    "job_feature_decile:mlship_feature_quantile:share1h"
                    '{job="$job", feature=~"$feature"}',
                    "decile {{decile}}",
                    instant=True,
                ),
            ),
            "percentunit",
            kind="bargauge",
            width=6,
            options={"orientation": "vertical", "displayMode": "basic"},
            defaults={"min": 0, "max": 0.5},
            extra={"repeat": "feature", "repeatDirection": "h", "maxPerRow": 4},
        ),
    ]
