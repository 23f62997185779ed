"""The data a specification names, its seeded stratified split and its fingerprint.

scikit-learn's bundled data sets need no network; a CSV or Parquet file of the
repository is read by ``data_files.py`` and pinned by its SHA-256.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.model_selection import train_test_split

from mlship.model.data_files import load_file
from mlship.model.errors import BadConfigError
from mlship.model.spec import BundledData, ModelSpec

_BUNDLED = {"iris": load_iris, "breast_cancer": load_breast_cancer, "wine": load_wine}


@dataclass(frozen=True)
class Dataset:
    features: pd.DataFrame
    target: np.ndarray
    class_names: tuple[str, ...]
    # What the version's `data_sha256` tag records: a file's own digest, or for bundled
    # data a fingerprint of the exact values, column names and class names.
    sha256: str


@dataclass(frozen=True)
class Split:
    train_features: pd.DataFrame
    test_features: pd.DataFrame
    train_target: np.ndarray
    test_target: np.ndarray


def fingerprint(features: pd.DataFrame, target: np.ndarray, class_names: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    digest.update(",".join(features.columns).encode())
    digest.update(",".join(class_names).encode())
    digest.update(np.ascontiguousarray(features.to_numpy(np.float64)).tobytes())
    digest.update(np.ascontiguousarray(target.astype(np.int64)).tobytes())
    return digest.hexdigest()


def _bundled(spec: ModelSpec, data: BundledData) -> Dataset:
    bunch = _BUNDLED[data.dataset]()
    values = np.asarray(bunch.data, dtype=np.float64)
    names = tuple(str(name) for name in bunch.target_names)
    if values.shape[1] != len(data.features):
        raise BadConfigError(
            f"model specification {spec.source}: data.features names {len(data.features)} "
            f"columns, the {data.dataset} data set has {values.shape[1]}"
        )
    if names != tuple(data.classes):
        raise BadConfigError(
            f"model specification {spec.source}: data.classes must be the {data.dataset} "
            f"data set's, in its order: {list(names)}"
        )
    # The specification's names replace scikit-learn's, column by column.
    features = pd.DataFrame(values, columns=list(data.features))
    target = np.asarray(bunch.target, dtype=np.int64)
    return Dataset(features, target, names, fingerprint(features, target, names))


def load_dataset(spec: ModelSpec) -> Dataset:
    """The specification's data; BadConfigError when it is not what the spec says."""
    if isinstance(spec.data, BundledData):
        return _bundled(spec, spec.data)
    features, target, sha256 = load_file(spec.data, spec.source)
    return Dataset(features, target, tuple(spec.data.classes), sha256)


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


def smoke_frame(spec: ModelSpec) -> pd.DataFrame:
    """The specification's smoke rows as the model takes them."""
    rows = [row.features for row in spec.smoke]
    return pd.DataFrame(rows, columns=list(spec.data.features), dtype=np.float64)
