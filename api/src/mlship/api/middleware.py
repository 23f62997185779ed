"""Request IDs, HTTP RED metrics and the access log, as pure ASGI middleware.

``RequestObserver`` does the work for one request; ``ObservabilityMiddleware``
applies it to every request that reaches FastAPI, and the prediction dispatch
(``hotpath.py``) applies it itself. Pure ASGI (not ``BaseHTTPMiddleware``) keeps
the per-request cost to a few microseconds and never buffers bodies. The route
label is the matched route template (``/v2/models/{name}/infer``), never the raw path, so label
cardinality stays bounded; unmatched requests are labelled ``unmatched``. ``RequestLimits``
and ``BoundedReceive`` bound what uvicorn does not: header lines and bytes, and the time
a body takes (``ServiceApp`` applies them to every request).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import time
from asyncio import current_task
from contextvars import Token
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlship.api.logs import request_id
from mlship.api.metrics import Metrics
from mlship.api.responses import ApiError

access_logger = logging.getLogger("mlship.api.access")
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
STATUS_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
CLOSE = {"Connection": "close"}  # the rest of a late body is never read
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            # Only IDs that cannot forge log lines or headers are reused.
            return text if SAFE_REQUEST_ID.match(text) else None
    return None


# What ``begin`` hands to ``end``: the start time, the request ID, its response header
# and the logging context. A plain tuple: this runs for every request.
Observation = tuple[float, str, tuple[bytes, bytes], Token[str | None]]


class RequestObserver:
    """Starts and ends the observation of one request."""

    def __init__(self, metrics: Metrics, access_log: bool = True) -> None:
        self.metrics = metrics
        self.access_log = access_log
        # Request IDs need to be unique, not secret: a seeded generator avoids a system
        # call per request (each worker process seeds its own).
        self._random = random.Random(os.urandom(32))  # noqa: S311

    def begin(self, scope: Scope) -> Observation:
        """Start the clock; the request's ID is reused from ``X-Request-ID`` when safe."""
        started = time.perf_counter()
        current_id = _incoming_id(scope) or f"{self._random.getrandbits(128):032x}"
        self.metrics.requests_in_flight += 1
        header = (b"x-request-id", current_id.encode("latin-1"))
        return started, current_id, header, request_id.set(current_id)

    def end(self, scope: Scope, template: str, status: int, observation: Observation) -> None:
        """Count the request, log it when it failed (or at debug level) and leave its context."""
        started, current_id, _, token = observation
        metrics = self.metrics
        metrics.requests_in_flight -= 1
        elapsed = time.perf_counter() - started
        # Label values come from known sets only: a client cannot create new series.
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"
        status_class = STATUS_CLASSES.get(status // 100, "5xx")
        metrics.http_requests.inc((template, method, status_class))
        metrics.http_duration.observe((template, method), elapsed)
        if self.access_log:
            self._log(scope, template, status, elapsed, current_id)
        request_id.reset(token)

    @staticmethod
    def _log(scope: Scope, template: str, status: int, elapsed: float, current_id: str) -> None:
        # Successful calls are counted by the metrics; their lines are debug-level so the
        # hot path does not pay for logging. Refusals and errors are always logged
        # ("not ready" 503s from probes at info, other server errors at error).
        level = logging.DEBUG if status < 400 else logging.INFO
        if status >= 500 and status != 503:
            level = logging.ERROR
        if access_logger.isEnabledFor(level):
            access_logger.log(
                level,
                "request",
                extra={
                    "request_id": current_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                },
            )


class RequestLimits:
    """What a request may send: header lines and bytes (431), and time for its body (408).

    uvicorn with httptools bounds none of them, so they are checked once the
    request is parsed. One timer for all requests bounds the bodies: a body read
    registers its deadline, and every ``tick`` seconds the reads past theirs are
    cancelled and answered 408 (a timer per read would cost microseconds per call).
    """

    def __init__(self, max_headers: int, max_header_bytes: int, body_seconds: float) -> None:
        self.max_headers, self.max_header_bytes = max_headers, max_header_bytes
        self.body_seconds, self.tick = body_seconds, min(1.0, body_seconds / 4)
        self.reading: dict[asyncio.Task[Any], float] = {}  # reads in progress: deadlines
        self.expired: set[asyncio.Task[Any]] = set()
        self.timer: asyncio.TimerHandle | None = None

    def refusal(self, headers: list[tuple[bytes, bytes]]) -> ApiError | None:
        if len(headers) > self.max_headers:
            return ApiError(431, f"more than {self.max_headers} header lines (API_MAX_HEADERS)")
        size = 0
        for name, value in headers:
            size += len(name) + len(value)
        if size > self.max_header_bytes:
            message = f"headers exceed {self.max_header_bytes} bytes (API_MAX_HEADER_BYTES)"
            return ApiError(431, message)
        return None

    def arm(self) -> None:
        """Start the timer that expires late reads (it stops when no read is in progress)."""
        self.timer = asyncio.get_running_loop().call_later(self.tick, self._expire)

    def _expire(self) -> None:
        now = time.monotonic()
        for task, deadline in list(self.reading.items()):
            if deadline <= now:
                del self.reading[task]
                self.expired.add(task)
                task.cancel()
        self.timer = None
        if self.reading:
            self.arm()


class BoundedReceive:
    """``receive`` refusing with a 408 a body not complete ``limits.body_seconds`` after now."""

    __slots__ = ("complete", "deadline", "limits", "receive")

    def __init__(self, receive: Receive, limits: RequestLimits) -> None:
        self.receive, self.limits, self.complete = receive, limits, False
        self.deadline = time.monotonic() + limits.body_seconds

    async def __call__(self) -> Message:
        if self.complete:
            return await self.receive()
        limits, task = self.limits, current_task()
        assert task is not None  # noqa: S101 (ASGI apps run in tasks)
        reading = limits.reading
        reading[task] = self.deadline
        if limits.timer is None:
            limits.arm()
        try:
            message = await self.receive()
        except asyncio.CancelledError:
            if task not in limits.expired:
                raise
            limits.expired.discard(task)
            task.uncancel()
            late = f"the body did not arrive within {limits.body_seconds:g} s (API_BODY_TIMEOUT_S)"
            raise ApiError(408, late, CLOSE) from None
        finally:
            reading.pop(task, None)
        if not message.get("more_body", False):
            self.complete = True
        return message


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, observer: RequestObserver) -> None:
        self.app = app
        self.observer = observer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        observation = self.observer.begin(scope)
        header = observation[2]
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            # The route template, never the raw path: label cardinality stays bounded.
            template = getattr(scope.get("route"), "path", None) or "unmatched"
            self.observer.end(scope, template, status, observation)
