"""A loaded, smoke-checked model version, and the model metrics of its predictions."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from mlship.api.batching import AdaptiveBatcher
from mlship.api.metrics import TENTHS, Metrics
from mlship.api.model_files import ModelFiles
from mlship.api.runtime import Runtime, load_runtime
from mlship.api.source import ModelRef

DECILE_BUCKETS = len(TENTHS) + 1  # a position among 9 deciles (0-9), and +Inf


class SmokeCheckError(Exception):
    """A new model version gave wrong or malformed answers on its own smoke sample."""


class NonFiniteOutputError(Exception):
    """Finite inputs whose arithmetic overflowed: the model has no answer for them."""


def smoke_check(files: ModelFiles, runtime: Runtime) -> None:
    inputs = files.smoke_inputs
    if inputs is None:
        return
    probabilities = runtime.predict_proba(inputs)
    expected_shape = (len(inputs), len(files.class_names))
    if probabilities.shape != expected_shape:
        raise SmokeCheckError(
            f"predict_proba returned shape {probabilities.shape}, expected {expected_shape}"
        )
    if not np.isfinite(probabilities).all() or not np.allclose(probabilities.sum(axis=1), 1.0):
        raise SmokeCheckError("predict_proba returned rows that are not probabilities")
    if files.smoke_expected is not None:
        wrong = int((probabilities.argmax(axis=1) != files.smoke_expected).sum())
        if wrong:
            raise SmokeCheckError(
                f"{wrong} of {len(inputs)} smoke-sample rows predicted the wrong class"
            )


@dataclass
class ServedModel:
    """One model version ready to serve; swapped as a whole, never changed under a request."""

    ref: ModelRef
    files: ModelFiles
    runtime: Runtime
    metrics: Metrics
    batch_max_rows: int = 64
    batch_max_wait: float = 0.0
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        self.features, self.class_names = self.files.features, self.files.class_names
        model = self.ref.name  # the `model` label of every model metric: dashboards select by it
        self._class_keys = [(model, self.ref.version, name) for name in self.class_names]
        self._confidence_key = (model,)
        self._endpoint_keys: dict[str, tuple[str, str]] = {}
        quantiles = self.files.feature_quantiles
        drifting = [name for name in self.features if name in quantiles]
        self._columns = [self.features.index(name) for name in drifting]
        self._deciles = np.array([quantiles[name] for name in drifting]).reshape(len(drifting), -1)
        self._drift_slots = [
            self.metrics.feature_quantile.slots((model, name)) for name in drifting
        ]
        self._offsets = np.arange(len(drifting)) * DECILE_BUCKETS
        self._batcher = (
            AdaptiveBatcher(self._coalesced, self.batch_max_rows, self.batch_max_wait)
            if self.batch_max_wait > 0
            else None
        )

    @classmethod
    def build(
        cls, ref: ModelRef, files: ModelFiles, metrics: Metrics, **batching: Any
    ) -> ServedModel:
        """Load the runtime the model asks for and smoke-check it on the model's own sample."""
        runtime = load_runtime(files)
        smoke_check(files, runtime)
        return cls(ref, files, runtime, metrics, **batching)

    async def predict(self, rows: np.ndarray, endpoint: str) -> np.ndarray:
        """Class probabilities for ``rows``, through the batcher when batching is on."""
        if self._batcher is None:
            return self.infer(rows, endpoint)
        return await self._batcher(rows)

    def _coalesced(self, rows: np.ndarray) -> np.ndarray:
        return self.infer(rows, "coalesced")

    def infer(self, rows: np.ndarray, endpoint: str) -> np.ndarray:
        """One runtime call; its model metrics are recorded later, in bulk (``Metrics.defer``)."""
        started = time.perf_counter()
        probabilities = self.runtime.predict_proba(rows)
        metrics = self.metrics
        key = self._endpoint_keys.get(endpoint) or self._endpoint_keys.setdefault(
            endpoint, (self.ref.name, endpoint)
        )
        metrics.inference_duration.observe(key, time.perf_counter() - started)
        if not np.isfinite(probabilities).all():
            raise NonFiniteOutputError(
                "the input's values overflow the model's arithmetic (its probabilities are not "
                "finite); values of this magnitude are outside what the model was trained on"
            )
        metrics.defer(self._record, rows, probabilities)
        return probabilities

    def _record(self, rows: np.ndarray, probabilities: np.ndarray) -> None:
        """The model metrics of many predictions: classes, confidence, drift deciles."""
        metrics = self.metrics
        predicted = probabilities.argmax(axis=1)
        for index, count in enumerate(np.bincount(predicted, minlength=len(self._class_keys))):
            if count:
                metrics.predictions.inc(self._class_keys[index], float(count))
        confidences = probabilities[np.arange(len(rows)), predicted]
        positions = np.searchsorted(TENTHS, confidences)
        metrics.confidence.add(
            self._confidence_key,
            np.bincount(positions, minlength=DECILE_BUCKETS).tolist(),
            float(confidences.sum()),
        )
        if self._drift_slots:
            self._record_drift(rows)

    def _record_drift(self, rows: np.ndarray) -> None:
        """Each value's position among its feature's training deciles (``le`` bucket = position).

        One ``bincount`` over every feature at once, then only the touched buckets are added.
        """
        positions = (self._deciles < rows[:, self._columns, None]).sum(axis=2)
        width = len(self._drift_slots)
        counts = np.bincount((positions + self._offsets).ravel(), minlength=width * DECILE_BUCKETS)
        for flat in np.flatnonzero(counts).tolist():
            feature, bucket = divmod(flat, DECILE_BUCKETS)
            self._drift_slots[feature][bucket] += float(counts[flat])
        totals = positions.sum(axis=0) / 10 + 0.05 * len(rows)
        for slots, total in zip(self._drift_slots, totals.tolist(), strict=True):
            slots[-1] += total

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
            "signature": self.files.signature,
            "runtime": self.runtime.name,
            "runtime_note": self.runtime.note,
        }

    def unload(self) -> None:
        self.runtime.unload()
