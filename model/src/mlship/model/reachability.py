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
from mlship.model.uris import public_uri

_FIRST_DELAY_SECONDS = 0.25
_MAX_DELAY_SECONDS = 2.0
_PROBE_TIMEOUT_SECONDS = 2.0
_HINT = "start it (make mlflow) or point MLFLOW_TRACKING_URI / --tracking-uri at a running one"


def is_remote(uri: str) -> bool:
    return urlsplit(uri).scheme in {"http", "https"}


def _probe(uri: str, timeout: float) -> None:
    """Raise OSError unless the server answers; any HTTP answer below 500 counts as up."""
    # urllib would take `user:password@host` for a host name; /health needs no credentials.
    health = f"{public_uri(uri).rstrip('/')}/health"
    try:
        with urllib.request.urlopen(health, timeout=timeout):  # noqa: S310
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
    role: str = "MLflow tracking server",
    hint: str = _HINT,
) -> None:
    """Return once ``uri`` answers; retry with exponential backoff within ``budget_seconds``.

    ``role`` and ``hint`` word the error (the gate also waits for its baseline registry).
    """
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
                    f"{role} {public_uri(uri)} is unreachable ({reason}) after "
                    f"{attempts} attempt(s) in {clock() - start:.1f}s; {hint}"
                ) from None
            sleep(min(delay, remaining))
            delay = min(delay * 2, _MAX_DELAY_SECONDS)
