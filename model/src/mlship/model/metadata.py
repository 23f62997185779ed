"""The MLmodel ``metadata`` contract the API relies on.

``class_names`` align with the estimator's ``classes_``; ``feature_quantiles``
hold the 9 training deciles of each feature (drift reference); ``smoke_sample``
holds the specification's rows and expected class indices, which the gate checks
and the API replays; ``contract_version`` is the API contract the model keeps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlship.model.spec import ModelSpec

DECILES: tuple[float, ...] = tuple(round(0.1 * step, 1) for step in range(1, 10))


def feature_quantiles(train_features: pd.DataFrame) -> dict[str, list[float]]:
    return {
        str(column): [
            float(value) for value in np.quantile(train_features[column].to_numpy(), DECILES)
        ]
        for column in train_features.columns
    }


def model_metadata(train_features: pd.DataFrame, spec: ModelSpec) -> dict[str, Any]:
    return {
        "class_names": list(spec.data.classes),
        "feature_names": [str(column) for column in train_features.columns],
        "feature_quantiles": feature_quantiles(train_features),
        "smoke_sample": spec.smoke_sample(),
        "contract_version": spec.contract_version,
        "spec": spec.name,
    }
