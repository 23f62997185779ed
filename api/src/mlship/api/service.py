"""What every endpoint needs, bundled: settings, metrics, the model manager, the key checker."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from mlship.api.auth import KeyChecker
from mlship.api.manager import ModelManager
from mlship.api.metrics import Metrics
from mlship.api.responses import ApiError
from mlship.api.security import RateLimiter
from mlship.api.served import ServedModel
from mlship.api.settings import Settings


@dataclass
class Service:
    settings: Settings
    metrics: Metrics
    manager: ModelManager
    keys: KeyChecker
    limiter: RateLimiter

    def admit(self, request: Request) -> None:
        """The checks every prediction call passes first: API key, then the caller's rate."""
        self.keys.protect(request)
        self.limiter.check(request, self.keys)

    def model(self) -> ServedModel:
        """The model serving now, or 503 while none is loaded."""
        current = self.manager.current
        if current is None:
            raise ApiError(
                503,
                f"no model loaded yet: {self.manager.waiting_reason}",
                {"Retry-After": str(max(1, int(self.settings.reload_interval_seconds)))},
            )
        return current
