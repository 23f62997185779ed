"""Waiting for the tracking server: a bounded retry with backoff, then a clear error.

Standard library only, so the CLI can check the server before paying for MLflow's import.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from urllib.parse import urlsplit

from mlship.model.errors import TrackingServerUnreachableError

_FIRST_DELAY_SECONDS = 0.25
_MAX_DELAY_SECONDS = 2.0
_PROBE_TIMEOUT_SECONDS = 2.0


def is_remote(uri: str) -> bool:
    return urlsplit(uri).scheme in {"http", "https"}


def _probe(uri: str, timeout: float) -> None:
    """Raise OSError unless the server answers; any HTTP answer below 500 counts as up."""
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout):  # noqa: S310
            return
    except urllib.error.HTTPError as error:
        if error.code >= 500:
            raise OSError(f"HTTP {error.code}") from error


def wait_for_tracking_server(
    uri: str,
    budget_seconds: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Return once ``uri`` answers; retry with exponential backoff within ``budget_seconds``."""
    if not is_remote(uri):
        return
    start = clock()
    delay = _FIRST_DELAY_SECONDS
    attempts = 0
    while True:
        attempts += 1
        remaining = budget_seconds - (clock() - start)
        try:
            _probe(uri, timeout=max(0.1, min(_PROBE_TIMEOUT_SECONDS, remaining)))
            return
        except (OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            remaining = budget_seconds - (clock() - start)
            if remaining <= 0:
                raise TrackingServerUnreachableError(
                    f"MLflow tracking server {uri} is unreachable ({reason}) after "
                    f"{attempts} attempt(s) in {clock() - start:.1f}s; start it "
                    "(make mlflow) or point MLFLOW_TRACKING_URI / --tracking-uri at a running one"
                ) from None
            sleep(min(delay, remaining))
            delay = min(delay * 2, _MAX_DELAY_SECONDS)
