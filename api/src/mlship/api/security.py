"""Response hardening and request rate limiting.

``SecurityHeadersMiddleware`` is pure ASGI: it appends pre-encoded headers
(``SecurityHeaders``, also used by the prediction dispatch) to every response
start message, so it costs one list concatenation per request.
``RateLimiter`` keeps one token bucket per caller (the API key when keys are
configured, the client address otherwise) in a dict; a request costs one dict
lookup and a little float arithmetic. Buckets live in each worker process, so
with ``API_WORKERS=N`` a caller whose connections are spread over the workers
may get up to N times the configured rate (documented in the README).
"""

from __future__ import annotations

import math
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlship.api.auth import KeyChecker
from mlship.api.call import Call
from mlship.api.responses import ApiError

# JSON responses never load anything; the docs page needs its own assets and an inline script,
# allowed by hash (docs.py sets that page's policy itself, so it gets no second one here).
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
BASE_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
NO_STORE = (b"cache-control", b"no-store")
CSP = b"content-security-policy"
# Swagger UI's static assets may be cached; every other response is dynamic.
CACHEABLE_PREFIX = "/static/"
DOCS_PATH = "/docs"


class SecurityHeaders:
    """The hardening headers of a response, pre-encoded once per kind of path."""

    def __init__(self) -> None:
        policy = (CSP, API_CSP.encode())
        self._api = [*BASE_HEADERS, NO_STORE, policy]
        self._static = [*BASE_HEADERS, policy]
        self._docs = [*BASE_HEADERS, NO_STORE]  # the docs page sets its own policy

    def for_path(self, path: str) -> list[tuple[bytes, bytes]]:
        if path.startswith(CACHEABLE_PREFIX):
            return self._static
        if path == DOCS_PATH:
            return self._docs
        return self._api


class SecurityHeadersMiddleware:
    """Adds the hardening headers to every HTTP response: one list concatenation per request."""

    def __init__(self, app: ASGIApp, headers: SecurityHeaders) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.headers.for_path(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _Bucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, updated: float) -> None:
        self.tokens, self.updated = tokens, updated


class RateLimiter:
    """Token buckets per caller: ``rate`` tokens per second, at most ``burst`` saved up."""

    # Above this many callers, buckets that have refilled completely are dropped: a full
    # bucket holds no state a new one would not, so memory stays bounded without changing
    # anybody's limit.
    MAX_BUCKETS = 10_000

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self._buckets: dict[str, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def wait_seconds(self, caller: str, now: float | None = None) -> float:
        """Take one token for ``caller``: 0 when allowed, else seconds until one is available."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(caller)
        if bucket is None:
            if len(self._buckets) >= self.MAX_BUCKETS:
                self._prune(now)
            bucket = self._buckets[caller] = _Bucket(self.burst, now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def _prune(self, now: float) -> None:
        full = [
            caller
            for caller, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.updated) * self.rate >= self.burst
        ]
        for caller in full:
            del self._buckets[caller]

    def check(self, call: Call, keys: KeyChecker) -> None:
        """Raise 429 with ``Retry-After`` when the caller of ``call`` is over its limit."""
        if self.rate <= 0:
            return
        caller = keys.presented(call.headers) if keys.enabled else None
        if caller is None:
            caller = call.client or "unknown"
        wait = self.wait_seconds(caller)
        if wait > 0:
            raise ApiError(
                429,
                f"rate limit exceeded ({self.rate:g} requests/s, burst {self.burst:g}); "
                "retry after the Retry-After seconds",
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )
