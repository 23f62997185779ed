"""The data a specification names: bundled sets, the user's CSV/Parquet files and their pin."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlship.model.catalog import Catalog, parse_spec
from mlship.model.data import load_dataset, smoke_frame, split_dataset
from mlship.model.errors import BadConfigError
from mlship.model.spec import ModelSpec

pytestmark = pytest.mark.unit


def declared(name: str) -> ModelSpec:
    return Catalog.discover().get(name)


def test_iris_has_named_double_features_and_three_classes() -> None:
    dataset = load_dataset(declared("IrisClassifier"))
    assert list(dataset.features.columns) == [
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
    ]
    assert dataset.features.shape == (150, 4)
    assert all(dtype == np.float64 for dtype in dataset.features.dtypes)
    assert dataset.class_names == ("setosa", "versicolor", "virginica")
    assert sorted(set(dataset.target.tolist())) == [0, 1, 2]


def test_breast_cancer_has_30_features_and_2_classes() -> None:
    spec = declared("BreastCancerForest")
    dataset = load_dataset(spec)
    assert dataset.features.shape == (569, 30)
    assert list(dataset.features.columns) == spec.data.features
    assert dataset.class_names == ("malignant", "benign")


def test_split_is_deterministic_for_a_seed_and_changes_with_it() -> None:
    dataset = load_dataset(declared("IrisClassifier"))
    first = split_dataset(dataset, test_size=0.2, seed=42)
    again = split_dataset(dataset, test_size=0.2, seed=42)
    other = split_dataset(dataset, test_size=0.2, seed=7)
    assert first.test_features.equals(again.test_features)
    assert np.array_equal(first.test_target, again.test_target)
    assert not first.test_features.equals(other.test_features)


def test_split_is_stratified() -> None:
    split = split_dataset(load_dataset(declared("IrisClassifier")), test_size=0.2, seed=3)
    assert np.bincount(split.test_target).tolist() == [10, 10, 10]
    assert np.bincount(split.train_target).tolist() == [40, 40, 40]


def test_fingerprint_is_stable_and_the_one_versions_already_carry() -> None:
    dataset = load_dataset(declared("IrisClassifier"))
    assert dataset.sha256 == load_dataset(declared("IrisClassifier")).sha256
    # Unchanged from before specifications: registered versions keep passing onnx_parity.
    assert dataset.sha256.startswith("395abad0")


@pytest.mark.parametrize("name", ["IrisClassifier", "BreastCancerForest"])
def test_smoke_rows_are_real_rows_of_the_expected_class(name: str) -> None:
    spec = declared(name)
    dataset = load_dataset(spec)
    rows = dataset.features.to_numpy()
    for row in spec.smoke:
        matches = np.flatnonzero((rows == np.asarray(row.features)).all(axis=1))
        assert matches.size, f"{row.features} is not a row of the data"
        assert {dataset.class_names[dataset.target[index]] for index in matches} == {row.expected}
    assert {row.expected for row in spec.smoke} == set(dataset.class_names)
    assert list(smoke_frame(spec).columns) == spec.data.features


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    classes = np.repeat(["low", "high"], 20)
    values = rng.normal(size=(40, 2)) + np.where(classes == "high", 3.0, 0.0)[:, None]
    return pd.DataFrame({"a": values[:, 0], "b": values[:, 1], "label": classes})


def _file_spec(tmp_path: Path, loader: str, digest: str | None = None) -> Path:
    data = tmp_path / f"points.{loader}"
    if loader == "csv":
        _frame().to_csv(data, index=False)
    else:
        _frame().to_parquet(data)
    pin = digest or hashlib.sha256(data.read_bytes()).hexdigest()
    spec = tmp_path / "points.toml"
    spec.write_text(
        f'name = "Points"\nexperiment = "e"\ncontract_version = 1\n'
        f'[data]\nloader = "{loader}"\npath = "{data.name}"\nsha256 = "{pin}"\n'
        'target = "label"\nfeatures = ["a", "b"]\nclasses = ["low", "high"]\n'
        "[split]\nseed = 1\ntest_size = 0.25\n"
        '[[pipeline]]\nname = "classifier"\nestimator = "sklearn.linear_model.LogisticRegression"\n'
        '[[smoke]]\nexpected = "high"\nfeatures = [3.0, 3.0]\n'
        "[gate.metrics.accuracy]\nthreshold = 0.8\ngreater_is_better = true\n"
    )
    return spec


@pytest.mark.parametrize("loader", ["csv", "parquet"])
def test_a_pinned_file_is_read_with_its_digest(tmp_path: Path, loader: str) -> None:
    path = _file_spec(tmp_path, loader)
    dataset = load_dataset(parse_spec(path))
    assert dataset.features.shape == (40, 2)
    assert dataset.class_names == ("low", "high")
    assert dataset.target.tolist() == [0] * 20 + [1] * 20
    assert (
        dataset.sha256 == hashlib.sha256((tmp_path / f"points.{loader}").read_bytes()).hexdigest()
    )


def test_a_changed_file_without_a_new_pin_is_refused_with_both_digests(tmp_path: Path) -> None:
    path = _file_spec(tmp_path, "csv")
    spec = parse_spec(path)
    data = tmp_path / "points.csv"
    data.write_text(data.read_text().replace("high", "low", 1))
    changed = hashlib.sha256(data.read_bytes()).hexdigest()
    with pytest.raises(BadConfigError) as caught:
        load_dataset(spec)
    message = str(caught.value)
    assert "points.csv changed" in message
    assert changed in message
    assert spec.data.sha256 in message  # type: ignore[union-attr]
    assert "update the pin" in message


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (('"a", "b"]', '"a", "c"]'), "has no column c"),
        (('classes = ["low", "high"]', 'classes = ["low", "mid"]'), "holds high"),
        (('path = "points.csv"', 'path = "absent.csv"'), "cannot read it"),
    ],
)
def test_a_file_that_is_not_what_the_spec_says_is_explained(
    tmp_path: Path, edit: tuple[str, str], fragment: str
) -> None:
    path = _file_spec(tmp_path, "csv")
    path.write_text(path.read_text().replace(*edit).replace('"high"\nfeatures', '"low"\nfeatures'))
    with pytest.raises(BadConfigError, match=fragment) as caught:
        load_dataset(parse_spec(path))
    assert "points.toml" in str(caught.value)
