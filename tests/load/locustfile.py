"""Locust users for the inference API: mostly single predictions, some batches.

Environment (read when a user starts, not at import):
- ``LOADTEST_API_KEY``: sent as ``X-API-Key`` when set;
- ``LOADTEST_RPS_PER_USER``: pace each user to this many requests per second
  (soak mode); unset or 0 means no pause between requests (maximum load);
- ``LOADTEST_BATCH_ROWS``: rows per ``/predict/batch`` call (default 100).

Rows are drawn around the Iris training ranges so every request is valid.
"""

from __future__ import annotations

import os
import random
from typing import Any

from locust import FastHttpUser, constant_throughput, task

# Feature ranges of the Iris data set (min, max), one per input column.
RANGES = [(4.3, 7.9), (2.0, 4.4), (1.0, 6.9), (0.1, 2.5)]


def random_row(rng: random.Random) -> list[float]:
    return [round(rng.uniform(low, high), 2) for low, high in RANGES]


class PredictUser(FastHttpUser):
    """One client calling ``/predict`` nine times for each ``/predict/batch`` call."""

    headers: dict[str, str]
    batch_rows: int
    rng: random.Random
    pacer: Any

    def on_start(self) -> None:
        key = os.environ.get("LOADTEST_API_KEY", "")
        self.headers = {"X-API-Key": key} if key else {}
        self.batch_rows = int(os.environ.get("LOADTEST_BATCH_ROWS", "100"))
        rate = float(os.environ.get("LOADTEST_RPS_PER_USER", "0") or 0)
        self.pacer = constant_throughput(rate) if rate > 0 else None
        self.rng = random.Random()

    def wait_time(self) -> float:
        # constant_throughput subtracts the task's own time, so the rate holds at any latency.
        return float(self.pacer(self)) if self.pacer is not None else 0.0

    def _post(self, path: str, body: dict[str, Any]) -> None:
        with self.client.post(
            path, json=body, headers=self.headers, name=path, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {(response.text or '')[:200]}")

    @task(9)
    def predict(self) -> None:
        self._post("/predict", {"features": random_row(self.rng)})

    @task(1)
    def predict_batch(self) -> None:
        rows = [random_row(self.rng) for _ in range(self.batch_rows)]
        self._post("/predict/batch", {"instances": rows})
