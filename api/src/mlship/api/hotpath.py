"""The application class: FastAPI, plus a direct dispatch of the prediction routes.

FastAPI's routing, dependency solving, Starlette's request and response
objects and every middleware layer cost more per call than a prediction on
ONNX Runtime. The prediction endpoints are written as ``CallHandler``s (a
``Call`` in, JSON content out, ``ApiError`` for refusals) and registered
twice over the same objects: as FastAPI routes (``call_endpoint``: their
OpenAPI description, FastAPI's answers to other methods, CORS) and in
``ServiceApp``'s dispatch table, which serves a POST to one of their paths
straight from the ASGI scope. The dispatch observes the request with the
same ``RequestObserver`` as the middleware and adds the same security
headers, so answers, metrics and logs are identical either way.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from mlship.api.call import Call, RawBody, send_json
from mlship.api.middleware import BoundedReceive, RequestLimits, RequestObserver
from mlship.api.responses import INTERNAL, ApiError, error_body, json_response
from mlship.api.security import SecurityHeaders

CallHandler = Callable[[Call], Awaitable[Any]]
logger = logging.getLogger("mlship.api")


def call_endpoint(handler: CallHandler) -> Callable[[Request], Awaitable[Response]]:
    """``handler`` as a FastAPI endpoint (ApiError goes to the app's exception handler)."""

    async def endpoint(request: Request) -> Response:
        content = await handler(Call.from_request(request))
        if type(content) is RawBody:
            return Response(content.body, headers=content.headers)
        return json_response(content)

    return endpoint


@dataclass(frozen=True)
class HotRoute:
    handler: CallHandler
    template: str  # e.g. /v2/models/{name}/infer
    headers: list[tuple[bytes, bytes]]  # the security headers of the path
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        # Each {parameter} is one non-empty path segment, as in Starlette's routing.
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.template))
        object.__setattr__(self, "pattern", re.compile(pattern + r"\Z"))

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.match(path)
        return found.groupdict() if found else None


class ServiceApp(FastAPI):
    """FastAPI behind a direct dispatch of POSTs to the prediction routes.

    Every HTTP request passes ``RequestLimits`` here first (header size and count,
    the time its body may take), whichever path then serves it.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._exact: dict[str, HotRoute] = {}
        self._templated: list[HotRoute] = []
        self._entry: ASGIApp = super().__call__
        self._guard: tuple[RequestObserver, SecurityHeaders, RequestLimits] | None = None
        self._cors = False

    def wrap(self, middleware: Callable[[ASGIApp], ASGIApp]) -> None:
        """Put ``middleware`` around FastAPI (the dispatch does its work itself)."""
        self._entry = middleware(self._entry)

    def dispatch(
        self, handlers: dict[str, CallHandler], observer: RequestObserver, headers: SecurityHeaders
    ) -> None:
        """Serve POST to each route template with its handler (already a FastAPI route).

        The request limits are the service's settings (``app.state.service``).
        """
        for template, handler in handlers.items():
            route = HotRoute(handler, template, headers.for_path(template))
            if "{" in template:
                self._templated.append(route)
            else:
                self._exact[template] = route
        settings = self.state.service.settings
        limits = RequestLimits(
            settings.max_headers, settings.max_header_bytes, settings.body_timeout_s
        )
        self._guard = observer, headers, limits

    def cors_enabled(self) -> None:
        """Cross-origin calls (an ``Origin`` header) then go through the CORS middleware."""
        self._cors = True

    def _hot(self, scope: Scope) -> tuple[HotRoute, dict[str, str]] | None:
        if scope["method"] != "POST":
            return None
        if self._cors and any(name == b"origin" for name, _ in scope["headers"]):
            return None
        path = scope["path"]
        exact = self._exact.get(path)
        if exact is not None:
            return exact, {}
        for route in self._templated:
            params = route.match(path)
            if params is not None:
                return route, params
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._entry(scope, receive, send)
            return
        assert self._guard is not None  # noqa: S101 (set with the routes)
        observer, security, limits = self._guard
        receive = BoundedReceive(receive, limits)
        refusal = limits.refusal(scope["headers"])
        hot = self._hot(scope)
        if hot is None and refusal is None:
            await self._entry(scope, receive, send)
            return
        # A hot route, or a refusal before routing: counted under its route, else "unmatched".
        route, params = hot or (None, {})
        template = route.template if route else "unmatched"
        observation = observer.begin(scope)
        headers = [*(route.headers if route else security.for_path(scope["path"])), observation[2]]
        status = 500
        try:
            try:
                if refusal is not None:
                    raise refusal
                assert route is not None  # noqa: S101 (no refusal: a hot route)
                content = await route.handler(Call.from_scope(scope, receive, params))
                status, extra = 200, None
            except ApiError as error:
                status, extra = error.status_code, error.headers
                content = error_body(scope["path"], error.detail)
            except Exception:
                logger.exception("unhandled error", extra={"route": template})
                status, extra, content = 500, None, error_body(scope["path"], INTERNAL)
            try:
                await send_json(send, content, status, extra, headers)
            except TypeError:  # content orjson cannot encode: answered as the fault it is
                logger.exception("unencodable response", extra={"route": template})
                status = 500
                await send_json(send, error_body(scope["path"], INTERNAL), status, None, headers)
        finally:
            observer.end(scope, template, status, observation)
