"""Behavioural tests of the trained Iris model: canonical flowers, noise, feature directions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from mlship.model.catalog import Catalog
from mlship.model.data import load_dataset, split_dataset
from mlship.model.training import fit

pytestmark = pytest.mark.unit

IRIS = Catalog.discover().get("IrisClassifier")
CLASSES = ("setosa", "versicolor", "virginica")
FEATURE_NAMES = IRIS.data.features
SMOKE_INPUTS = [tuple(row.features) for row in IRIS.smoke]
SMOKE_EXPECTED = [row.expected for row in IRIS.smoke]


@pytest.fixture(scope="module")
def model() -> Pipeline:
    dataset = load_dataset(IRIS)
    pipeline, _ = fit(IRIS, dataset, split_dataset(dataset, test_size=0.2, seed=42))
    return pipeline


def frame(rows: Sequence[Sequence[float]] | np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(np.asarray(rows, dtype=np.float64), columns=list(FEATURE_NAMES))


@pytest.mark.parametrize(("row", "expected"), list(zip(SMOKE_INPUTS, SMOKE_EXPECTED, strict=True)))
def test_canonical_flowers(model: Pipeline, row: tuple[float, ...], expected: str) -> None:
    assert CLASSES[int(model.predict(frame([list(row)]))[0])] == expected


def test_class_centroids_are_confident(model: Pipeline) -> None:
    dataset = load_dataset(IRIS)
    for index, name in enumerate(CLASSES):
        centroid = dataset.features[dataset.target == index].mean().to_numpy()
        probabilities = model.predict_proba(frame([centroid]))[0]
        assert CLASSES[int(probabilities.argmax())] == name
        assert probabilities.max() > 0.7


def test_tiny_noise_does_not_change_canonical_predictions(model: Pipeline) -> None:
    rows = np.asarray(SMOKE_INPUTS, dtype=np.float64)
    baseline = model.predict(frame(rows))
    rng = np.random.default_rng(0)
    for _ in range(50):
        noisy = rows + rng.normal(0.0, 0.01, size=rows.shape)  # well below measurement precision
        assert np.array_equal(model.predict(frame(noisy)), baseline)


def test_noise_barely_moves_probabilities(model: Pipeline) -> None:
    rows = load_dataset(IRIS).features.to_numpy()
    noisy = rows + np.random.default_rng(1).normal(0.0, 0.001, size=rows.shape)
    shift = np.abs(model.predict_proba(frame(rows)) - model.predict_proba(frame(noisy)))
    assert shift.max() < 0.02


def test_larger_petals_move_towards_virginica(model: Pipeline) -> None:
    base = np.asarray(SMOKE_INPUTS[3], dtype=np.float64)  # a versicolor
    petal = [FEATURE_NAMES.index("petal_length"), FEATURE_NAMES.index("petal_width")]
    rows = []
    for step in np.linspace(0.0, 2.0, 9):
        row = base.copy()
        row[petal] += step
        rows.append(row)
    probabilities = model.predict_proba(frame(np.vstack(rows)))
    virginica, setosa = probabilities[:, 2], probabilities[:, 0]
    assert np.all(np.diff(virginica) > 0)
    assert np.all(np.diff(setosa) <= 1e-12)
    assert CLASSES[int(probabilities[-1].argmax())] == "virginica"


def test_smaller_petals_move_towards_setosa(model: Pipeline) -> None:
    base = np.asarray(SMOKE_INPUTS[3], dtype=np.float64)  # a versicolor
    petal = [FEATURE_NAMES.index("petal_length"), FEATURE_NAMES.index("petal_width")]
    rows = []
    for fraction in np.linspace(1.0, 0.2, 9):
        row = base.copy()
        row[petal] *= fraction
        rows.append(row)
    setosa = model.predict_proba(frame(np.vstack(rows)))[:, 0]
    assert np.all(np.diff(setosa) > 0)
