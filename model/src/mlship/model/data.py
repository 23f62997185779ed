"""The Iris data set (scikit-learn's bundled copy: no network), its split and its fingerprint."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

FEATURE_NAMES: tuple[str, ...] = ("sepal_length", "sepal_width", "petal_length", "petal_width")

# Fixed smoke sample: for each class, the two flowers closest to the class centroid
# (standardised distance) plus the seed's classic first row. Every candidate must
# classify them correctly; the API replays them to smoke-check a version it loads.
SMOKE_INPUTS: tuple[tuple[float, float, float, float], ...] = (
    (5.1, 3.5, 1.4, 0.2),
    (5.0, 3.4, 1.5, 0.2),
    (5.1, 3.4, 1.5, 0.2),
    (6.1, 2.8, 4.0, 1.3),
    (5.7, 2.8, 4.1, 1.3),
    (6.5, 3.0, 5.2, 2.0),
    (6.8, 3.0, 5.5, 2.1),
)
SMOKE_EXPECTED: tuple[str, ...] = (
    "setosa",
    "setosa",
    "setosa",
    "versicolor",
    "versicolor",
    "virginica",
    "virginica",
)


@dataclass(frozen=True)
class Dataset:
    features: pd.DataFrame
    target: np.ndarray
    class_names: tuple[str, ...]

    @property
    def sha256(self) -> str:
        """Fingerprint of the exact values, column names and class names trained on."""
        digest = hashlib.sha256()
        digest.update(",".join(self.features.columns).encode())
        digest.update(",".join(self.class_names).encode())
        digest.update(np.ascontiguousarray(self.features.to_numpy(np.float64)).tobytes())
        digest.update(np.ascontiguousarray(self.target.astype(np.int64)).tobytes())
        return digest.hexdigest()


@dataclass(frozen=True)
class Split:
    train_features: pd.DataFrame
    test_features: pd.DataFrame
    train_target: np.ndarray
    test_target: np.ndarray


def load_dataset() -> Dataset:
    iris = load_iris()
    features = pd.DataFrame(np.asarray(iris.data, dtype=np.float64), columns=list(FEATURE_NAMES))
    target = np.asarray(iris.target, dtype=np.int64)
    return Dataset(features, target, tuple(str(name) for name in iris.target_names))


def split_dataset(dataset: Dataset, *, test_size: float, seed: int) -> Split:
    """Deterministic stratified split: same seed, same rows."""
    train_x, test_x, train_y, test_y = train_test_split(
        dataset.features,
        dataset.target,
        test_size=test_size,
        random_state=seed,
        stratify=dataset.target,
    )
    return Split(
        train_x.reset_index(drop=True),
        test_x.reset_index(drop=True),
        np.asarray(train_y),
        np.asarray(test_y),
    )


def smoke_frame() -> pd.DataFrame:
    return pd.DataFrame(list(SMOKE_INPUTS), columns=list(FEATURE_NAMES), dtype=np.float64)
