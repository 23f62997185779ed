"""The compiled prediction functions reproduce scikit-learn, or are not used."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, PolynomialFeatures, StandardScaler

from mlship.api.fastpath import MAX_ROW_WEIGHTS, LinearPipeline, verified
from tests.support.models import iris

pytestmark = pytest.mark.unit
FEATURES, TARGET, _ = iris()


def fitted(estimator: Any, target: np.ndarray = TARGET) -> Any:
    return estimator.fit(FEATURES, target)


COMPILED = {
    "scaler + multinomial": lambda: fitted(make_pipeline(StandardScaler(), LogisticRegression())),
    "scaler + binary": lambda: fitted(
        make_pipeline(StandardScaler(), LogisticRegression()), (TARGET == 1).astype(int)
    ),
    "two scalers, no centring": lambda: fitted(
        make_pipeline(MinMaxScaler(), StandardScaler(with_mean=False), LogisticRegression())
    ),
    "centring only": lambda: fitted(
        make_pipeline(StandardScaler(with_std=False), LogisticRegression(max_iter=1000))
    ),
    "bare logistic regression": lambda: fitted(LogisticRegression(max_iter=1000)),
}


@pytest.mark.parametrize("build", COMPILED.values(), ids=COMPILED.keys())
def test_compiled_functions_reproduce_scikit_learn(build: Any) -> None:
    estimator = build()
    matrix, row, compiled = verified(estimator, FEATURES[::10])
    expected = estimator.predict_proba(FEATURES)
    assert compiled
    np.testing.assert_allclose(matrix(FEATURES), expected, rtol=1e-12)
    by_row = [row(values) for values in FEATURES.tolist()]
    assert all(type(p) is float for probabilities in by_row for p in probabilities)
    np.testing.assert_allclose(by_row, expected, rtol=1e-12)
    assert isinstance(row.__self__, LinearPipeline)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "estimator",
    [
        make_pipeline(PolynomialFeatures(2), LogisticRegression(max_iter=2000)),
        RandomForestClassifier(n_estimators=5, random_state=0),
    ],
    ids=["unsupported transformer", "not a linear model"],
)
def test_other_estimators_keep_their_own_predict_proba(estimator: Any) -> None:
    fitted(estimator)
    matrix, row, compiled = verified(estimator, FEATURES[::10])
    assert not compiled
    np.testing.assert_array_equal(matrix(FEATURES), estimator.predict_proba(FEATURES))
    assert row(FEATURES[0].tolist()) == estimator.predict_proba(FEATURES[:1])[0].tolist()


def test_a_large_model_predicts_single_rows_through_numpy() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, MAX_ROW_WEIGHTS // 2))
    target = rng.integers(0, 3, size=300)
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=50)).fit(
        features, target
    )
    _, row, compiled = verified(estimator, features[:20])
    assert compiled
    assert not isinstance(getattr(row, "__self__", None), LinearPipeline)
    np.testing.assert_allclose(
        row(features[0].tolist()), estimator.predict_proba(features[:1])[0], rtol=1e-12
    )


def test_binary_probabilities_stay_finite_for_extreme_scores() -> None:
    estimator = fitted(
        make_pipeline(StandardScaler(), LogisticRegression()), (TARGET == 1).astype(int)
    )
    _, row, _ = verified(estimator, FEATURES[::10])
    for extreme in (1e6, -1e6):
        probabilities = row([extreme] * FEATURES.shape[1])
        assert all(np.isfinite(probabilities))
        assert sum(probabilities) == pytest.approx(1.0)
