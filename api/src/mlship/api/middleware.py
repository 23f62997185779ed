"""Pure ASGI middleware: request IDs, HTTP RED metrics and the access log.

Pure ASGI (not ``BaseHTTPMiddleware``) keeps the per-request cost to a few
microseconds and never buffers bodies. The route label is the matched route
template (``/v2/models/{name}/infer``), never the raw path, so label
cardinality stays bounded; unmatched requests are labelled ``unmatched``.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlship.api.logs import request_id
from mlship.api.metrics import Metrics

access_logger = logging.getLogger("mlship.api.access")
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
STATUS_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            # Only IDs that cannot forge log lines or headers are reused.
            return text if SAFE_REQUEST_ID.match(text) else None
    return None


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, access_log: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        self._children: dict[tuple[str, str, str], Any] = {}
        self._durations: dict[tuple[str, str], Any] = {}

    def _count(self, route: str, method: str, status: int, seconds: float) -> None:
        status_class = STATUS_CLASSES.get(status // 100, "5xx")
        key = (route, method, status_class)
        counter = self._children.get(key)
        if counter is None:
            counter = self._children[key] = self.metrics.http_requests.labels(*key)
        counter.inc()
        histogram = self._durations.get((route, method))
        if histogram is None:
            histogram = self._durations[(route, method)] = self.metrics.http_duration.labels(
                route, method
            )
        histogram.observe(seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        current_id = _incoming_id(scope) or os.urandom(16).hex()
        token = request_id.set(current_id)
        header = (b"x-request-id", current_id.encode("latin-1"))
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.metrics.in_flight.dec()
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self._count(template, method, status, elapsed)
            # Successful calls are counted by the metrics; their lines are debug-level so the
            # hot path does not pay for logging. Refusals and errors are always logged
            # ("not ready" 503s from probes at info, other server errors at error).
            level = logging.DEBUG if status < 400 else logging.INFO
            if status >= 500 and status != 503:
                level = logging.ERROR
            if self.access_log and access_logger.isEnabledFor(level):
                access_logger.log(
                    level,
                    "request",
                    extra={
                        "request_id": current_id,
                        "method": method,
                        "path": scope["path"],
                        "route": template,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                    },
                )
            request_id.reset(token)
