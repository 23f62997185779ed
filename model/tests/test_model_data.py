"""The Iris data: columns, determinism of the split, the fingerprint and the smoke sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlship.model.data import (
    FEATURE_NAMES,
    SMOKE_EXPECTED,
    SMOKE_INPUTS,
    load_dataset,
    smoke_frame,
    split_dataset,
)

pytestmark = pytest.mark.unit


def test_dataset_has_named_double_features_and_three_classes() -> None:
    dataset = load_dataset()
    assert list(dataset.features.columns) == list(FEATURE_NAMES)
    assert dataset.features.shape == (150, 4)
    assert all(dtype == np.float64 for dtype in dataset.features.dtypes)
    assert dataset.class_names == ("setosa", "versicolor", "virginica")
    assert sorted(set(dataset.target.tolist())) == [0, 1, 2]


def test_split_is_deterministic_for_a_seed_and_changes_with_it() -> None:
    dataset = load_dataset()
    first = split_dataset(dataset, test_size=0.2, seed=42)
    again = split_dataset(dataset, test_size=0.2, seed=42)
    other = split_dataset(dataset, test_size=0.2, seed=7)
    assert first.test_features.equals(again.test_features)
    assert np.array_equal(first.test_target, again.test_target)
    assert not first.test_features.equals(other.test_features)


def test_split_is_stratified() -> None:
    split = split_dataset(load_dataset(), test_size=0.2, seed=3)
    assert np.bincount(split.test_target).tolist() == [10, 10, 10]
    assert np.bincount(split.train_target).tolist() == [40, 40, 40]


def test_fingerprint_is_stable_and_sensitive_to_values() -> None:
    dataset = load_dataset()
    assert dataset.sha256 == load_dataset().sha256
    assert len(dataset.sha256) == 64
    values = dataset.features.to_numpy(copy=True)
    values[0, 0] += 0.1
    changed = pd.DataFrame(values, columns=dataset.features.columns)
    altered = type(dataset)(changed, dataset.target, dataset.class_names)
    assert altered.sha256 != dataset.sha256


def test_smoke_sample_rows_are_real_flowers_of_the_expected_class() -> None:
    dataset = load_dataset()
    rows = dataset.features.to_numpy()
    for values, expected in zip(SMOKE_INPUTS, SMOKE_EXPECTED, strict=True):
        matches = np.flatnonzero((rows == np.asarray(values)).all(axis=1))
        assert matches.size, f"{values} is not an Iris row"
        labels = {dataset.class_names[dataset.target[index]] for index in matches}
        assert labels == {expected}
    assert set(SMOKE_EXPECTED) == set(dataset.class_names)
    assert list(smoke_frame().columns) == list(FEATURE_NAMES)
