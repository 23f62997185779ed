"""The service's Prometheus metrics (names and labels are a contract with the dashboards).

Each app owns its metric objects and registry, so several apps can live in one
process (tests). With ``PROMETHEUS_MULTIPROC_DIR`` set, prometheus_client keeps
values in per-process files and ``render`` merges the workers' files.

The request path records into ``tally`` (see ``tally.py``) and the number of
requests in flight into ``requests_in_flight``; ``flush`` moves both into the
metrics, before every exposition and every ``flush_every`` interval.
"""

from __future__ import annotations

import asyncio
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from mlship.api.tally import Tally

HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
TENTHS = tuple(round(0.1 * step, 1) for step in range(1, 11))
LOAD_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
INFERENCE_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1)


class Metrics:
    """Every metric the service exports."""

    def __init__(self, *, multiprocess_dir: str | None = None, image_ref: str = "") -> None:
        self.multiprocess_dir = multiprocess_dir
        self.tally = Tally()
        self.requests_in_flight = 0
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.http_requests = Counter(
            "mlship_http_requests_total",
            "HTTP requests by route template, method and status class",
            ["route", "method", "status_class"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "mlship_http_request_duration_seconds",
            "HTTP request latency by route template and method",
            ["route", "method"],
            buckets=HTTP_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "mlship_http_requests_in_flight",
            "HTTP requests being served",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.model_info = Gauge(
            "mlship_model_info",
            "1 for the model version being served",
            ["model_name", "model_version", "run_id"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.build_info = Gauge(
            "mlship_build_info",
            "1, labelled with the image this process runs (API_IMAGE_REF, by digest)",
            ["image_ref"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.model_loaded = Gauge(
            "mlship_model_loaded",
            "1 while a model is loaded",
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.load_duration = Histogram(
            "mlship_model_load_duration_seconds",
            "Time to fetch, load and smoke-check a model version",
            buckets=LOAD_BUCKETS,
            registry=registry,
        )
        self.reloads = Counter(
            "mlship_model_reloads_total",
            "Model loads by result (success, failed)",
            ["result"],
            registry=registry,
        )
        self.registry_reachable = Gauge(
            "mlship_registry_reachable",
            "1 when the last registry check succeeded",
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.predictions = Counter(
            "mlship_predictions_total",
            "Predicted rows by model version and predicted class",
            ["model_version", "predicted_class"],
            registry=registry,
        )
        self.inference_duration = Histogram(
            "mlship_inference_duration_seconds",
            "Model time per call (no HTTP, no parsing)",
            ["endpoint"],
            buckets=INFERENCE_BUCKETS,
            registry=registry,
        )
        self.confidence = Histogram(
            "mlship_prediction_confidence",
            "Probability of the predicted class",
            buckets=TENTHS,
            registry=registry,
        )
        self.feature_quantile = Histogram(
            "mlship_feature_quantile",
            "Position of observed feature values among the training deciles",
            ["feature"],
            buckets=TENTHS,
            registry=registry,
        )
        for result in ("success", "failed"):
            self.reloads.labels(result=result)
        self.build_info.labels(image_ref=image_ref).set(1)
        self.model_loaded.set(0)
        self.registry_reachable.set(0)

    def flush(self) -> None:
        """Apply the tallied updates and the in-flight count."""
        self.tally.flush()
        self.in_flight.set(self.requests_in_flight)

    async def flush_every(self, seconds: float) -> None:
        """Flush every ``seconds`` until cancelled (what other workers' scrapes read)."""
        while True:
            await asyncio.sleep(seconds)
            self.flush()

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        self.flush()
        if self.multiprocess_dir is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(merged), CONTENT_TYPE_LATEST

    def close(self) -> None:
        """Flush, then drop this worker's live gauges from the shared directory."""
        self.flush()
        if self.multiprocess_dir is not None:
            multiprocess.mark_process_dead(os.getpid(), self.multiprocess_dir)  # type: ignore[no-untyped-call]
