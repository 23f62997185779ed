"""The service's Prometheus metrics (names and labels are a contract with the dashboards).

The request path counts into plain Python numbers (``tallies.Counts``, ``Buckets``):
a prometheus_client metric takes a lock, or with several workers writes a
memory-mapped file, on every update, and a prediction makes several. The model
metrics of a prediction (class, confidence, drift deciles of every feature) are
not even computed per request: ``defer`` keeps its rows and probabilities, and
``settle`` records every pending prediction with a few numpy operations, before
each scrape and flush and every ``SETTLE_ROWS`` rows. A custom
collector (prometheus_client's public ``Collector`` API) turns those numbers into
metric families when scraped. With several workers each one writes its numbers
to ``PROMETHEUS_MULTIPROC_DIR`` every ``API_METRICS_FLUSH_SECONDS`` and a scrape
sums every worker's file (a dead worker's counts stay, as counters must).
The few gauges that change rarely are prometheus_client's own, in its
multiprocess mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mlship.api.tallies import Buckets, Counts, summed

HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
TENTHS = tuple(round(0.1 * step, 1) for step in range(1, 11))
LOAD_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
INFERENCE_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1)
Recorder = Callable[[np.ndarray, np.ndarray], None]
# Rows kept before they are recorded: bounds memory, staleness and the cost of one settle,
# which the request that triggers it pays. A call of this many rows is recorded at once.
SETTLE_ROWS = 256


class Metrics(Collector):
    """Every metric the service exports; also the collector of the request-path numbers."""

    def __init__(self, *, multiprocess_dir: str | None = None, image_ref: str = "") -> None:
        self.multiprocess_dir = Path(multiprocess_dir) if multiprocess_dir else None
        self.requests_in_flight = 0
        self._pending: list[tuple[Recorder, np.ndarray, np.ndarray]] = []
        self._pending_rows = 0
        self.http_requests = Counts(
            "mlship_http_requests_total",
            "HTTP requests by route template, method and status class",
            ["route", "method", "status_class"],
        )
        self.http_duration = Buckets(
            "mlship_http_request_duration_seconds",
            "HTTP request latency by route template and method",
            ["route", "method"],
            HTTP_BUCKETS,
        )
        self.predictions = Counts(
            "mlship_predictions_total",
            "Predicted rows by model, model version and predicted class",
            ["model", "model_version", "predicted_class"],
        )
        self.inference_duration = Buckets(
            "mlship_inference_duration_seconds",
            "Runtime time per call (no HTTP, no parsing); endpoint=coalesced for shared calls",
            ["model", "endpoint"],
            INFERENCE_BUCKETS,
        )
        self.confidence = Buckets(
            "mlship_prediction_confidence", "Probability of the predicted class", ["model"], TENTHS
        )
        self.feature_quantile = Buckets(
            "mlship_feature_quantile",
            "Position of observed feature values among the training deciles",
            ["model", "feature"],
            TENTHS,
        )
        self.families: tuple[Counts | Buckets, ...] = (
            self.http_requests, self.http_duration, self.predictions,
            self.inference_duration, self.confidence, self.feature_quantile,
        )  # fmt: skip
        self.registry = registry = CollectorRegistry(auto_describe=True)

        def gauge(name: str, doc: str, labels: Sequence[str] = (), mode: str = "livemax") -> Gauge:
            return Gauge(name, doc, labels, registry=registry, multiprocess_mode=mode)  # type: ignore[arg-type]

        self.model_info = gauge(
            "mlship_model_info", "1 for the model version being served",
            ["model_name", "model_version", "run_id"],
        )  # fmt: skip
        self.model_runtime = gauge(
            "mlship_model_runtime",
            "1 for the runtime serving the model (onnx, sklearn)",
            ["runtime"],
        )
        self.build_info = gauge(
            "mlship_build_info", "1, labelled with the image this process runs (API_IMAGE_REF)",
            ["image_ref"],
        )  # fmt: skip
        self.model_loaded = gauge(
            "mlship_model_loaded", "1 while a model is loaded", mode="livemin"
        )
        self.registry_reachable = gauge(
            "mlship_registry_reachable", "1 when the last registry check succeeded", mode="livemin"
        )
        self.load_duration = Histogram(
            "mlship_model_load_duration_seconds", "Time to fetch, load and smoke-check a version",
            buckets=LOAD_BUCKETS, registry=registry,
        )  # fmt: skip
        self.reloads = Counter(
            "mlship_model_reloads_total", "Model loads by result (success, failed)", ["result"],
            registry=registry,
        )  # fmt: skip
        for result in ("success", "failed"):
            self.reloads.labels(result=result)
        self.build_info.labels(image_ref=image_ref).set(1)
        self.model_loaded.set(0)
        self.registry_reachable.set(0)
        registry.register(self)

    def defer(self, record: Recorder, rows: np.ndarray, probabilities: np.ndarray) -> None:
        """Keep a prediction for ``record`` (its model's), to be recorded by ``settle``."""
        if len(rows) >= SETTLE_ROWS:  # already a bulk: record it now
            record(rows, probabilities)
            return
        self._pending.append((record, rows, probabilities))
        self._pending_rows += len(rows)
        if self._pending_rows >= SETTLE_ROWS:
            self.settle()

    def settle(self) -> None:
        """Record every pending prediction: one call of its model's recorder per model."""
        pending, self._pending, self._pending_rows = self._pending, [], 0
        grouped: dict[Recorder, tuple[list[np.ndarray], list[np.ndarray]]] = {}
        for record, rows, probabilities in pending:
            matrices = grouped.setdefault(record, ([], []))
            matrices[0].append(rows)
            matrices[1].append(probabilities)
        for record, (rows_list, probabilities_list) in grouped.items():
            record(np.vstack(rows_list), np.vstack(probabilities_list))

    def _snapshot(self) -> dict[str, Any]:
        self.settle()
        snapshot: dict[str, Any] = {
            family.name: [[list(key), value] for key, value in list(family.values.items())]
            for family in self.families
        }
        snapshot["pid"], snapshot["in_flight"] = os.getpid(), self.requests_in_flight
        return snapshot

    def _own_file(self) -> Path:
        assert self.multiprocess_dir is not None  # noqa: S101 (multiprocess mode only)
        return self.multiprocess_dir / f"mlship_{os.getpid()}.json"

    def flush(self) -> None:
        """Write this worker's numbers for the other workers' scrapes (atomic replace)."""
        if self.multiprocess_dir is None:
            return
        target = self._own_file()
        partial = target.with_suffix(".partial")
        partial.write_text(json.dumps(self._snapshot()))
        partial.replace(target)

    async def flush_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            self.flush()

    def _snapshots(self) -> Iterator[dict[str, Any]]:
        yield self._snapshot()
        if self.multiprocess_dir is None:
            return
        own = self._own_file()
        for path in self.multiprocess_dir.glob("mlship_*.json"):
            if path != own:
                with contextlib.suppress(OSError, ValueError):
                    yield json.loads(path.read_text())

    def collect(self) -> Iterator[Metric]:
        snapshots = list(self._snapshots())
        for family in self.families:
            yield family.family(summed(snapshots, family.name))
        in_flight = sum(s.get("in_flight", 0) for s in snapshots if _alive(s.get("pid")))
        yield GaugeMetricFamily(
            "mlship_http_requests_in_flight", "HTTP requests being served", value=in_flight
        )

    def describe(self) -> list[Metric]:
        return []  # the families are made at scrape time

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=str(self.multiprocess_dir))  # type: ignore[no-untyped-call]
        merged.register(self)
        return generate_latest(merged), CONTENT_TYPE_LATEST

    def close(self) -> None:
        """Flush with nothing in flight, then drop this worker's live gauges."""
        self.requests_in_flight = 0
        self.flush()
        if self.multiprocess_dir is not None:
            multiprocess.mark_process_dead(os.getpid(), str(self.multiprocess_dir))  # type: ignore[no-untyped-call]


def _alive(pid: object) -> bool:
    """Whether ``pid`` runs: a dead worker's requests are no longer in flight."""
    try:
        os.kill(pid, 0)  # type: ignore[arg-type]
    except (ProcessLookupError, TypeError):
        return False
    except PermissionError:
        return True
    return True
