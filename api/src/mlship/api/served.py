"""A loaded, smoke-checked model version and the model metrics of its predictions."""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from mlship.api.artifact import Artifact
from mlship.api.fastpath import Proba, verified
from mlship.api.metrics import Metrics, observe_counts, observe_many, observe_one
from mlship.api.source import ModelRef


class SmokeCheckError(Exception):
    """A new model version gave wrong or malformed answers on its own smoke sample."""


def smoke_check(artifact: Artifact, predict_proba: Proba) -> None:
    inputs = artifact.smoke_inputs
    if inputs is None:
        return
    probabilities = predict_proba(inputs)
    expected_shape = (len(inputs), len(artifact.class_names))
    if probabilities.shape != expected_shape:
        raise SmokeCheckError(
            f"predict_proba returned shape {probabilities.shape}, expected {expected_shape}"
        )
    if not np.isfinite(probabilities).all() or not np.allclose(probabilities.sum(axis=1), 1.0):
        raise SmokeCheckError("predict_proba returned rows that are not probabilities")
    if artifact.smoke_expected is not None:
        predicted = probabilities.argmax(axis=1)
        wrong = int((predicted != artifact.smoke_expected).sum())
        if wrong:
            raise SmokeCheckError(
                f"{wrong} of {len(inputs)} smoke-sample rows predicted the wrong class"
            )


@dataclass
class ServedModel:
    """One model version ready to serve; immutable once built, swapped as a whole."""

    ref: ModelRef
    artifact: Artifact
    predict_proba: Proba
    metrics: Metrics
    compiled: bool = False
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        version = self.ref.version
        self.features = self.artifact.features
        self.class_names = self.artifact.class_names
        self._predicted = [
            self.metrics.predictions.labels(model_version=version, predicted_class=name)
            for name in self.class_names
        ]
        self._quantiles = [
            (
                index,
                self.artifact.feature_quantiles[name],
                self.artifact.feature_quantiles[name].tolist(),
                self.metrics.feature_quantile.labels(feature=name),
            )
            for index, name in enumerate(self.features)
            if name in self.artifact.feature_quantiles
        ]
        self._inference = {
            endpoint: self.metrics.inference_duration.labels(endpoint=endpoint)
            for endpoint in ("predict", "batch", "v2")
        }

    @classmethod
    def build(cls, ref: ModelRef, artifact: Artifact, metrics: Metrics) -> ServedModel:
        """Pick the fastest exact ``predict_proba``, smoke-check it and wrap the version."""
        probes = [array for array in (artifact.smoke_inputs,) if array is not None]
        if artifact.feature_quantiles and len(artifact.feature_quantiles) == len(artifact.features):
            probes.append(
                np.column_stack([artifact.feature_quantiles[name] for name in artifact.features])
            )
        probe = np.vstack(probes) if probes else np.empty((0, len(artifact.features)))
        predict_proba, compiled = verified(artifact.estimator, probe)
        smoke_check(artifact, predict_proba)
        return cls(ref, artifact, predict_proba, metrics, compiled)

    def infer(self, rows: np.ndarray, endpoint: str) -> np.ndarray:
        """Class probabilities for ``rows``; records the model metrics."""
        started = time.perf_counter()
        probabilities = self.predict_proba(rows)
        self._inference[endpoint].observe(time.perf_counter() - started)
        self._record(rows, probabilities)
        return probabilities

    def _record(self, rows: np.ndarray, probabilities: np.ndarray) -> None:
        if len(rows) == 1:
            index = int(probabilities[0].argmax())
            self._predicted[index].inc()
            observe_one(self.metrics.confidence, float(probabilities[0, index]))
            row = rows[0].tolist()
            for column, _, deciles, child in self._quantiles:
                position = bisect.bisect_left(deciles, row[column])
                child._buckets[position].inc(1)  # position/10 + 0.05 lies in bucket `position`
                child._sum.inc(position / 10 + 0.05)
            return
        predicted = probabilities.argmax(axis=1)
        for index, count in enumerate(np.bincount(predicted, minlength=len(self._predicted))):
            if count:
                self._predicted[index].inc(int(count))
        observe_many(self.metrics.confidence, probabilities[np.arange(len(rows)), predicted])
        for column, deciles, _, child in self._quantiles:
            below = np.searchsorted(deciles, rows[:, column], side="left")
            counts = np.bincount(below, minlength=11)
            observe_counts(child, counts, float((below / 10 + 0.05).sum()))

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.ref.name,
            "version": self.ref.version,
            "run_id": self.ref.run_id,
            "aliases": list(self.ref.aliases),
            "source_uri": self.ref.source,
            "loaded_at": self.loaded_at.isoformat(),
            "features": list(self.features),
            "class_names": list(self.class_names),
            "signature": self.artifact.signature,
        }
