"""What every endpoint needs, bundled: settings, metrics, the model manager, the key checker."""

from __future__ import annotations

from dataclasses import dataclass

from mlship.api.auth import KeyChecker
from mlship.api.call import Call
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

    def __post_init__(self) -> None:
        # Whether keys or rate limits apply is fixed at start-up (the keys file may change
        # its keys, not its presence), so an open service skips both checks at once.
        self._open = not self.keys.enabled and not self.limiter.enabled

    def admit(self, call: Call) -> None:
        """The checks every prediction call passes first: API key, then the caller's rate."""
        if self._open:
            return
        self.keys.protect(call.headers)
        self.limiter.check(call, self.keys)

    def model(self, name: str | None = None, version: str | None = None) -> ServedModel:
        """The model serving now (404 when ``name`` or ``version`` is another), or a 503."""
        current = self.manager.current
        if current is None:
            raise ApiError(
                503,
                f"no model loaded yet: {self.manager.waiting_reason}",
                {"Retry-After": str(max(1, int(self.settings.reload_interval_seconds)))},
            )
        if name is not None and name != current.ref.name:
            raise ApiError(404, f"model {name!r} is not served here (serving {current.ref.name!r})")
        if version is not None and version != current.ref.version:
            message = f"version {version!r} of {current.ref.name!r} is not served here"
            raise ApiError(404, f"{message} (serving version {current.ref.version!r})")
        return current
