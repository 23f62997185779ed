"""The MLmodel ``metadata`` contract the API relies on.

``class_names`` align with the estimator's ``classes_``; ``feature_quantiles``
hold the 9 training deciles of each feature (drift reference);
``smoke_sample`` holds rows and expected class indices the API replays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlship.model.data import SMOKE_EXPECTED, SMOKE_INPUTS

DECILES: tuple[float, ...] = tuple(round(0.1 * step, 1) for step in range(1, 10))


def feature_quantiles(train_features: pd.DataFrame) -> dict[str, list[float]]:
    return {
        str(column): [
            float(value) for value in np.quantile(train_features[column].to_numpy(), DECILES)
        ]
        for column in train_features.columns
    }


def smoke_sample(class_names: tuple[str, ...]) -> dict[str, Any]:
    return {
        "inputs": [list(row) for row in SMOKE_INPUTS],
        "expected": [class_names.index(name) for name in SMOKE_EXPECTED],
    }


def model_metadata(train_features: pd.DataFrame, class_names: tuple[str, ...]) -> dict[str, Any]:
    return {
        "class_names": list(class_names),
        "feature_names": [str(column) for column in train_features.columns],
        "feature_quantiles": feature_quantiles(train_features),
        "smoke_sample": smoke_sample(class_names),
    }
