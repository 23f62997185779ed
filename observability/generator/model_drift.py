"""Panels of the "Model" dashboard about what the model predicts and what it sees (drift)."""

from __future__ import annotations

from observability.generator.grafana import Panel, Query, thresholds
from observability.generator.signals import (
    CLASS_SHARE,
    CLASS_SHARE_BASELINE,
    CLASS_SHARE_SHIFT,
    DECILE_SHARE,
    DECILES,
    FEATURE_PSI,
    PSI_MODERATE,
    PSI_SIGNIFICANT,
)

SELECTED = 'job="$job", instance=~"$instance"'
# The model metrics and the signals recorded from them carry the registered model's name.
MODEL_SELECTED = f'{SELECTED}, model="$model"'
RECORDED = 'job="$job", model="$model"'
RATE = "[$__rate_interval]"
PSI = thresholds((None, "green"), (PSI_MODERATE, "orange"), (PSI_SIGNIFICANT, "red"))


def prediction_panels() -> list[Panel]:
    confidence = f"mlship_prediction_confidence_bucket{{{MODEL_SELECTED}}}"
    low = f'{MODEL_SELECTED}, le="0.6"'
    return [
        Panel(
            "Predictions per class",
            "Predicted rows per second by class (batch rows count one by one).",
            (
                Query(
                    "sum by (predicted_class) "
                    f"(rate(mlship_predictions_total{{{MODEL_SELECTED}}}{RATE}))",
                    "{{predicted_class}}",
                ),
            ),
            "ops",
            defaults={"custom": {"stacking": {"mode": "normal"}}},
        ),
        Panel(
            "Class shares: last hour and a day earlier",
            "Prediction drift: each class's share of the last hour against the same hour "
            f"yesterday (alert when one moves by more than {CLASS_SHARE_SHIFT:g}).",
            (
                Query(f"{CLASS_SHARE}{{{RECORDED}}}", "{{predicted_class}} now"),
                Query(f"{CLASS_SHARE_BASELINE}{{{RECORDED}}}", "{{predicted_class}} a day earlier"),
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
                    f"sum(rate(mlship_prediction_confidence_bucket{{{low}}}{RATE}))"
                    f" / sum(rate(mlship_prediction_confidence_count{{{MODEL_SELECTED}}}{RATE}))",
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
            f"< {PSI_MODERATE:g} stable, {PSI_MODERATE:g}-{PSI_SIGNIFICANT:g} moderate, "
            f"> {PSI_SIGNIFICANT:g} significant (alert).",
            (Query(f'{FEATURE_PSI}{{{RECORDED}, feature=~"$feature"}}', "{{feature}}"),),
            "none",
            width=24,
            defaults={"thresholds": PSI, "custom": {"thresholdsStyle": {"mode": "line"}}},
        ),
        Panel(
            "$feature: share per training decile (last hour)",
            f"Without drift every decile of the training data holds {100 / len(DECILES):g} % "
            "of the values.",
            (
                Query(
                    f'{DECILE_SHARE}{{{RECORDED}, feature=~"$feature"}}',
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
