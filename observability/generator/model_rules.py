"""Model rule files: class shares and feature-decile drift per job and model, and their alerts."""

from __future__ import annotations

from observability.generator.promrules import Alert, Group, Record, RuleFile
from observability.generator.signals import (
    BASELINE_OFFSET,
    CLASS_SHARE,
    CLASS_SHARE_BASELINE,
    CLASS_SHARE_SHIFT,
    DECILE_SHARE,
    DECILES,
    DRIFT_WINDOW,
    FEATURE_OBSERVATIONS,
    FEATURE_PSI,
    MIN_FEATURE_VALUES,
    MIN_PREDICTIONS,
    MODEL_LABELS,
    PREDICTIONS_RATE,
    PREDICTIONS_RATE_BASELINE,
    PSI_MODERATE,
    PSI_SIGNIFICANT,
    SHARE_FLOOR,
    by,
    on,
    seconds,
)

MODEL = by(*MODEL_LABELS)
CLASS = by(*MODEL_LABELS, "predicted_class")
FEATURE = by(*MODEL_LABELS, "feature")
WINDOW_SECONDS = seconds(DRIFT_WINDOW)  # rate * window = count in the window


def _predictions(offset: str = "") -> str:
    shift = f" offset {offset}" if offset else ""
    return f"rate(mlship_predictions_total[{DRIFT_WINDOW}]{shift})"


def _class_share(name: str, offset: str = "") -> Record:
    return Record(
        name,
        f"sum {CLASS} ({_predictions(offset)})\n"
        f"/ {on(*MODEL_LABELS)} group_left\n"
        f"sum {MODEL} ({_predictions(offset)})\n",
    )


def _feature_rate(bucket: str | None) -> str:
    """Values per second up to a decile's upper bound; None: every value (the count)."""
    series = (
        f'mlship_feature_quantile_bucket{{le="{bucket}"}}'
        if bucket
        else "mlship_feature_quantile_count"
    )
    return f"sum {FEATURE} (rate({series}[{DRIFT_WINDOW}]))"


def _decile_share(index: int) -> Record:
    # The last decile is everything above the ninth bound: the count, +Inf included.
    upper = _feature_rate(DECILES[index] if index < len(DECILES) - 1 else None)
    within = (
        f"(\n  {upper}\n  - {_feature_rate(DECILES[index - 1])}\n)\n" if index else f"{upper}\n"
    )
    return Record(
        DECILE_SHARE,
        f"{within}/ {_feature_rate(None)}\n",
        labels={"decile": str(index + 1)},
        comment=f'Share of the last hour\'s values in each training decile (label decile="1".."'
        f'{len(DECILES)}").'
        if index == 0
        else "",
    )


def recording() -> RuleFile:
    floored = f"clamp_min({DECILE_SHARE}, {SHARE_FLOOR:g})"
    expected = f"{1 / len(DECILES):g}"
    return RuleFile(
        "model-recording.yml",
        "Model monitoring signals of the inference API, per scrape job and model.\n\n"
        "Prediction drift compares each class's share of predictions over the last\n"
        "hour with the same hour a day earlier (computed from the raw counter with\n"
        "`offset`, so it works as soon as a day of history exists).\n\n"
        "Feature drift: the API maps every observed feature value to its position in\n"
        "the training distribution and counts it in the histogram\n"
        f"mlship_feature_quantile{{model, feature}}, buckets {DECILES[0]} ... {DECILES[-1]}. "
        "Without drift\n"
        f"each decile holds a tenth of the values; the population stability index\n"
        f"PSI = sum((share - {expected}) * ln(share / {expected})) over the deciles measures "
        "the shift\n"
        f"(< {PSI_MODERATE:g} stable, {PSI_MODERATE:g}-{PSI_SIGNIFICANT:g} moderate, "
        f"> {PSI_SIGNIFICANT:g} significant). Shares are floored at {SHARE_FLOOR:g}\n"
        "so that an empty decile scores high instead of infinite.",
        (
            Group(
                "mlship-model-signals",
                (
                    Record(PREDICTIONS_RATE, f"sum {MODEL} ({_predictions()})"),
                    Record(
                        PREDICTIONS_RATE_BASELINE, f"sum {MODEL} ({_predictions(BASELINE_OFFSET)})"
                    ),
                    _class_share(CLASS_SHARE),
                    _class_share(CLASS_SHARE_BASELINE, BASELINE_OFFSET),
                    Record(
                        FEATURE_OBSERVATIONS,
                        _feature_rate(None),
                        comment="Values per second per feature (the feature alert's guard).",
                    ),
                    *(_decile_share(index) for index in range(len(DECILES))),
                    Record(
                        FEATURE_PSI,
                        f"sum {FEATURE} (\n"
                        f"  ({floored} - {expected})\n"
                        f"  * ln({floored} / {expected})\n"
                        ")\n",
                    ),
                ),
            ),
        ),
    )


def alerts() -> RuleFile:
    guard = on(*MODEL_LABELS)
    either = (
        f"  (\n    {CLASS_SHARE}\n    - {CLASS_SHARE_BASELINE}\n  )\n"
        f"  or {CLASS_SHARE}\n  or {CLASS_SHARE_BASELINE}\n"
    )
    return RuleFile(
        "model-alerts.yml",
        "Drift of what each served model sees and predicts (signals recorded in\n"
        "model-recording.yml). Drift does not break the service: these are tickets.",
        (
            Group(
                "mlship-model-drift",
                (
                    Alert(
                        "MlshipPredictionDrift",
                        f"abs(\n{either}) > {CLASS_SHARE_SHIFT:g}\n"
                        f"and {guard} {PREDICTIONS_RATE} * {WINDOW_SECONDS} >= {MIN_PREDICTIONS}\n"
                        f"and {guard} {PREDICTIONS_RATE_BASELINE} * {WINDOW_SECONDS} "
                        f">= {MIN_PREDICTIONS}\n",
                        "ticket",
                        "Share of class {{ $labels.predicted_class }} of {{ $labels.model }} "
                        f"moved by more than {CLASS_SHARE_SHIFT * 100:g} points in a day",
                        "{{ $labels.job }} predicts class {{ $labels.predicted_class }} with "
                        "{{ $labels.model }} for a share of requests that differs from the same "
                        f"hour yesterday by more than {CLASS_SHARE_SHIFT:g}.",
                        "Compare predictions per class and feature drift in the Model dashboard; "
                        "if the inputs changed, retrain on recent data, if a new version changed "
                        "behaviour, make rollback.",
                        wait="15m",
                        comment="A class's share of the last hour's predictions moved by more "
                        f"than {CLASS_SHARE_SHIFT * 100:g}\npercentage points against the same "
                        "hour a day earlier. A class missing\nfrom one side counts with its whole "
                        f"share. Guard: at least {MIN_PREDICTIONS}\npredictions in both hours.",
                    ),
                    Alert(
                        "MlshipFeatureDrift",
                        f"{FEATURE_PSI} > {PSI_SIGNIFICANT:g}\n"
                        f"and {on(*MODEL_LABELS, 'feature')} {FEATURE_OBSERVATIONS} "
                        f"* {WINDOW_SECONDS} >= {MIN_FEATURE_VALUES}\n",
                        "ticket",
                        "Feature {{ $labels.feature }} of {{ $labels.model }} drifted from its "
                        "training distribution",
                        "The population stability index of {{ $labels.feature }} seen by "
                        "{{ $labels.model }} over the last hour is above "
                        f"{PSI_SIGNIFICANT:g} against the training deciles.",
                        "Look at the feature's decile shares in the Model dashboard; check the "
                        "upstream data source, then retrain on recent data (open a pull request) "
                        "if the shift is real.",
                        wait="15m",
                        comment="Population stability index of a feature's last hour against "
                        f"the\ntraining deciles above {PSI_SIGNIFICANT:g} (significant shift). "
                        f"Guard: at least {MIN_FEATURE_VALUES}\nobserved values in the hour.",
                    ),
                ),
            ),
        ),
    )
