# Types of the compiled lane (lane.pyx), for mypy.
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

MAX_FEATURES: int
SOURCE_SHA256: str

class RowKernel:
    n_features: int
    n_classes: int
    compiled: bool
    def __init__(
        self,
        row_scores: Sequence[tuple[Sequence[float], float]] | None,
        predict_row: Callable[[list[float]], list[float]],
        features: Sequence[str],
        class_names: Sequence[str],
        model_name: str,
        model_version: str,
        predicted: list[list[float]],
        confidence: list[float],
        confidence_bounds: Sequence[float],
        inference: list[float],
        inference_bounds: Sequence[float],
        quantiles: Sequence[tuple[int, Sequence[float], list[float]]],
    ) -> None: ...
    def probabilities(self, row: Sequence[float]) -> list[float]: ...
    def infer_one(self, row: Sequence[float]) -> tuple[int, list[float]]: ...

class PredictLane:
    def __init__(
        self,
        app: Callable[[Any, Any, Any], Awaitable[None]],
        path: str,
        fallback: Callable[[Any, Any, Any], Awaitable[None]],
        manager: Any,
        metrics: Any,
        headers: Sequence[tuple[bytes, bytes]],
        requests: list[float],
        failures: list[float],
        duration: list[float],
        duration_bounds: Sequence[float],
        max_body_bytes: int,
        cors: bool,
        access_logger: Any,
        keys: Any,
    ) -> None: ...
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None: ...
