"""A loaded, smoke-checked model version and the model metrics of its predictions."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from mlship.api import compiled as compiled_lane
from mlship.api.artifact import Artifact
from mlship.api.fastpath import RELATIVE_TOLERANCE, LinearPipeline, Proba, RowProba, verified
from mlship.api.metrics import Metrics
from mlship.api.source import ModelRef
from mlship.api.tally import observe


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


def _add_observations(slots: list[float], upper_bounds: list[float], values: np.ndarray) -> None:
    """``observe`` every one of ``values``, vectorised (the buckets' ``le`` semantics)."""
    buckets = np.searchsorted(upper_bounds, values, side="left")
    for bucket, count in enumerate(np.bincount(buckets, minlength=len(upper_bounds)).tolist()):
        slots[bucket] += count
    slots[-1] += float(values.sum())


@dataclass
class ServedModel:
    """One model version ready to serve; immutable once built, swapped as a whole."""

    ref: ModelRef
    artifact: Artifact
    predict_proba: Proba
    predict_row: RowProba
    metrics: Metrics
    compiled: bool = False
    lane: bool = True  # use the compiled lane (lane.pyx) when it was built
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        version = self.ref.version
        metrics, tally = self.metrics, self.metrics.tally
        self.features = self.artifact.features
        self.class_names = self.artifact.class_names
        self._predicted = [
            tally.counter(metrics.predictions.labels(model_version=version, predicted_class=name))
            for name in self.class_names
        ]
        self._confidence = tally.histogram(metrics.confidence)
        self._confidence_bounds: list[float] = metrics.confidence._upper_bounds
        self._quantiles = [
            (
                index,
                self.artifact.feature_quantiles[name],
                self.artifact.feature_quantiles[name].tolist(),
                tally.histogram(metrics.feature_quantile.labels(feature=name)),
            )
            for index, name in enumerate(self.features)
            if name in self.artifact.feature_quantiles
        ]
        self._inference = {
            endpoint: tally.histogram(metrics.inference_duration.labels(endpoint=endpoint))
            for endpoint in ("predict", "batch", "v2")
        }
        self._inference_bounds: list[float] = metrics.inference_duration._upper_bounds
        self._tenths_bounds: list[float] = metrics.feature_quantile._upper_bounds
        self.kernel = self._row_kernel() if self.lane and compiled_lane.AVAILABLE else None
        self.infer_one = (
            self.kernel.infer_one if self.kernel is not None else self._single_row_path()
        )

    def _single_row_path(self) -> Callable[[list[float]], tuple[int, list[float]]]:
        """``infer_one``: the class index and probabilities of one row, metrics recorded.

        This is /predict's hot path. Everything it touches is bound to closure
        variables here, and ``observe`` is inlined, because attribute lookups
        and calls per request would cost more than the arithmetic.
        """
        predict_row, clock = self.predict_row, time.perf_counter
        inference, inference_bounds = self._inference["predict"], self._inference_bounds
        predicted = self._predicted
        confidence, confidence_bounds = self._confidence, self._confidence_bounds
        quantiles = [(column, deciles, slots) for column, _, deciles, slots in self._quantiles]

        def infer_one(row: list[float]) -> tuple[int, list[float]]:
            started = clock()
            probabilities = predict_row(row)
            elapsed = clock() - started
            inference[bisect_left(inference_bounds, elapsed)] += 1
            inference[-1] += elapsed
            top = max(probabilities)
            index = probabilities.index(top)  # the first maximum, as numpy's argmax
            predicted[index][0] += 1
            confidence[bisect_left(confidence_bounds, top)] += 1
            confidence[-1] += top
            for column, deciles, slots in quantiles:
                position = bisect_left(deciles, row[column])
                slots[position] += 1  # position/10 + 0.05 lies in bucket number `position`
                slots[-1] += position / 10 + 0.05
            return index, probabilities

        return infer_one

    def _row_kernel(self) -> compiled_lane.RowKernel | None:
        """``infer_one`` in C, with the same metrics; None for rows too wide for it.

        The C arithmetic is used only where ``predict_row`` is the folded linear
        pipeline and the kernel reproduces it on the smoke sample; otherwise the
        kernel calls ``predict_row`` and records the metrics itself.
        """
        if len(self.features) > compiled_lane.MAX_FEATURES:
            return None
        pipeline = getattr(self.predict_row, "__self__", None)
        row_scores = pipeline.row_scores if isinstance(pipeline, LinearPipeline) else None
        quantiles = [(column, deciles, slots) for column, _, deciles, slots in self._quantiles]

        def kernel(scores: list[tuple[list[float], float]] | None) -> compiled_lane.RowKernel:
            return compiled_lane.RowKernel(
                scores, self.predict_row, self.features, self.class_names, self.ref.name,
                self.ref.version, self._predicted, self._confidence, self._confidence_bounds,
                self._inference["predict"], self._inference_bounds, quantiles,
            )  # fmt: skip

        built = kernel(row_scores)
        sample = self.artifact.smoke_inputs
        if row_scores is not None and sample is not None:
            for row in sample.tolist():
                if not np.allclose(
                    built.probabilities(row), self.predict_row(row), rtol=RELATIVE_TOLERANCE, atol=0
                ):
                    return kernel(None)
        return built

    @classmethod
    def build(
        cls, ref: ModelRef, artifact: Artifact, metrics: Metrics, *, lane: bool = True
    ) -> ServedModel:
        """Pick the fastest exact ``predict_proba``, smoke-check it and wrap the version."""
        probes = [array for array in (artifact.smoke_inputs,) if array is not None]
        if artifact.feature_quantiles and len(artifact.feature_quantiles) == len(artifact.features):
            probes.append(
                np.column_stack([artifact.feature_quantiles[name] for name in artifact.features])
            )
        probe = np.vstack(probes) if probes else np.empty((0, len(artifact.features)))
        predict_proba, predict_row, compiled = verified(artifact.estimator, probe)
        smoke_check(artifact, predict_proba)
        return cls(ref, artifact, predict_proba, predict_row, metrics, compiled, lane)

    def infer(self, rows: np.ndarray, endpoint: str) -> np.ndarray:
        """Class probabilities for ``rows``; records the model metrics."""
        started = time.perf_counter()
        probabilities = self.predict_proba(rows)
        observe(self._inference[endpoint], self._inference_bounds, time.perf_counter() - started)
        predicted = probabilities.argmax(axis=1)
        counts = np.bincount(predicted, minlength=len(self._predicted)).tolist()
        for slot, count in zip(self._predicted, counts, strict=True):
            slot[0] += count
        confidences = probabilities[np.arange(len(rows)), predicted]
        _add_observations(self._confidence, self._confidence_bounds, confidences)
        for column, deciles, _, slots in self._quantiles:
            positions = np.searchsorted(deciles, rows[:, column], side="left")
            _add_observations(slots, self._tenths_bounds, positions / 10 + 0.05)
        return probabilities

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
