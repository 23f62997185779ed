"""promtool unit tests of the drift alerts (model-recording.yml, model-alerts.yml).

Models, classes and features are made-up names: the rules know none. Two
models scraped under one job must never mix, which the two-model cases show.
"""

from __future__ import annotations

from observability.generator import model_rules
from observability.generator.signals import API_JOB, CLASS_SHARE, DECILE_SHARE, DECILES, FEATURE_PSI
from observability.generator.unittests import (
    Case,
    Json,
    TestFile,
    alert_named,
    fires,
    histogram,
    sample,
    series,
    silent,
)

ALERTS = model_rules.alerts()
PREDICTION_DRIFT = alert_named(ALERTS, "MlshipPredictionDrift")
FEATURE_DRIFT = alert_named(ALERTS, "MlshipFeatureDrift")
A, B = "model-a", "model-b"
# Every ten minutes over a day, then three hours later: 144 steps, a new hour after.
DAY_THEN = "0+200x144 {}"
UNIFORM = [20.0] * len(DECILES) + [0.0]  # 200 values a minute, a tenth per decile
TOP_DECILE = [0.0] * (len(DECILES) - 1) + [200.0, 0.0]  # every value above the 9th bound
WOBBLE = [26.0, 14.0] * (len(DECILES) // 2) + [0.0]  # PSI about 0.04: stable


def _predictions(model: str, **classes: str) -> list[Json]:
    """Counters of predicted classes (keyword class_<name>) of one model, one replica."""
    return [
        series(
            "mlship_predictions_total",
            values,
            job=API_JOB,
            instance="api-1:8000",
            model=model,
            model_version="3",
            predicted_class=name.removeprefix("class_"),
        )
        for name, values in classes.items()
    ]


def _drifting(model: str) -> list[Json]:
    """Class 0 goes from a third of the predictions to 60 %."""
    return _predictions(
        model,
        class_0=DAY_THEN.format("29100+300x29"),
        class_1=DAY_THEN.format("28900+100x29"),
        class_2=DAY_THEN.format("28900+100x29"),
    )


def _stable(model: str, scale: float = 1) -> list[Json]:
    return _predictions(
        model, **{f"class_{c}": f"0+{rate * scale:g}x173" for c, rate in enumerate((200, 190, 210))}
    )


def _features(model: str, feature: str, increments: list[float], scale: float = 1) -> list[Json]:
    return histogram(
        "mlship_feature_quantile",
        DECILES,
        [increment * scale for increment in increments],
        90,
        job=API_JOB,
        instance="api-1:8000",
        model=model,
        feature=feature,
    )


def _labels(model: str, **labels: str) -> dict[str, str]:
    return {"job": API_JOB, "model": model, **labels}


def _braces(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'{key}="{value}"' for key, value in labels.items()) + "}"


def _prediction_cases() -> tuple[Case, ...]:
    share = f'round({CLASS_SHARE}{{predicted_class="0"}}, 0.001)'
    return (
        Case(
            "prediction drift - class 0 goes from a third to 60 % of predictions",
            "10m",
            _drifting(A),
            [
                silent(PREDICTION_DRIFT, "23h"),
                fires(PREDICTION_DRIFT, "26h", _labels(A, predicted_class="0")),
            ],
            # Rounded: the shares are ratios of floating-point rates.
            (
                sample(share, "26h", 0.6, _braces(_labels(A, predicted_class="0"))),
                sample(
                    share.replace(CLASS_SHARE, f"{CLASS_SHARE}_offset1d"),
                    "26h",
                    0.333,
                    _braces(_labels(A, predicted_class="0")),
                ),
            ),
        ),
        Case(
            "prediction drift - a class never predicted a day earlier takes a quarter",
            "10m",
            _predictions(
                A,
                class_0=DAY_THEN.format("28960+160x29"),
                class_1=DAY_THEN.format("28940+140x29"),
                class_2="_x144 0+100x29",
            ),
            [fires(PREDICTION_DRIFT, "26h", _labels(A, predicted_class="2"))],
        ),
        Case(
            "prediction drift - stable shares raise nothing",
            "10m",
            _stable(A),
            [silent(PREDICTION_DRIFT, "26h"), silent(PREDICTION_DRIFT, "28h")],
        ),
        Case(
            "prediction drift - a trickle of predictions is below the traffic guard",
            "10m",
            _predictions(
                A,
                class_0="0+1x144 150+6x29",
                class_1="0+1x144 145+1x29",
                class_2="0+1x144 145+1x29",
            ),
            [silent(PREDICTION_DRIFT, "26h")],
        ),
        Case(
            "prediction drift - two models in one job: only the drifting one fires",
            "10m",
            [*_drifting(A), *_stable(B)],
            [fires(PREDICTION_DRIFT, "26h", _labels(A, predicted_class="0"))],
        ),
        Case(
            "prediction drift - one model's traffic does not lift another's trickle over the guard",
            "10m",
            [
                *_stable(A),
                *_predictions(
                    B,
                    class_0="0+1x144 150+6x29",
                    class_1="0+1x144 145+1x29",
                    class_2="0+1x144 145+1x29",
                ),
            ],
            [silent(PREDICTION_DRIFT, "26h")],
        ),
    )


def _feature_cases() -> tuple[Case, ...]:
    psi = f"round({FEATURE_PSI}, 0.001)"
    top = f'{DECILE_SHARE}{{model="{A}", feature="x1", decile="{len(DECILES)}"}}'
    quiet = [silent(FEATURE_DRIFT, "30m"), silent(FEATURE_DRIFT, "60m")]
    return (
        Case(
            "feature drift - every x1 value above the training's 9th decile",
            "1m",
            [*_features(A, "x1", TOP_DECILE), *_features(A, "x2", UNIFORM)],
            [silent(FEATURE_DRIFT, "10m"), fires(FEATURE_DRIFT, "30m", _labels(A, feature="x1"))],
            # 0 without drift; 9 x 0.099 x ln(100) + 0.9 x ln(10) with every value on top.
            (
                {
                    "expr": psi,
                    "eval_time": "30m",
                    "exp_samples": [
                        {"labels": _braces(_labels(A, feature="x1")), "value": 6.176},
                        {"labels": _braces(_labels(A, feature="x2")), "value": 0},
                    ],
                },
                sample(
                    top,
                    "30m",
                    1,
                    DECILE_SHARE + _braces(_labels(A, feature="x1", decile=str(len(DECILES)))),
                ),
            ),
        ),
        Case(
            "feature drift - a mild wobble around the training deciles raises nothing",
            "1m",
            _features(A, "x3", WOBBLE),
            quiet,
        ),
        Case(
            "feature drift - a trickle of drifted values is below the traffic guard",
            "1m",
            _features(A, "x1", TOP_DECILE, scale=3 / 200),
            quiet,
        ),
        Case(
            "feature drift - two models, a feature of the same name: only the drifted one fires",
            "1m",
            [*_features(A, "x1", TOP_DECILE), *_features(B, "x1", UNIFORM)],
            [fires(FEATURE_DRIFT, "30m", _labels(A, feature="x1"))],
            (
                {
                    "expr": psi,
                    "eval_time": "30m",
                    "exp_samples": [
                        {"labels": _braces(_labels(A, feature="x1")), "value": 6.176},
                        {"labels": _braces(_labels(B, feature="x1")), "value": 0},
                    ],
                },
            ),
        ),
    )


def test_file() -> TestFile:
    return TestFile(
        "model-alerts.test.yml",
        "promtool test rules: prediction drift (class shares against a day earlier)\n"
        "and feature drift (PSI over the training-decile buckets), per job and model.\n\n"
        "Evaluated every 4m, coarser than production's 15 s: same outcomes over a day of\n"
        "history, in a fraction of promtool's time. Recording and alerting rules are\n"
        "separate groups, evaluated in either order: an alert may see the recorded\n"
        "signals one evaluation late (within the 5-minute lookback), so checks leave a margin.",
        (model_rules.recording(), ALERTS),
        "4m",
        (*_prediction_cases(), *_feature_cases()),
    )
