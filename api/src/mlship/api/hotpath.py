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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from mlship.api.call import Call, send_json
from mlship.api.middleware import RequestObserver
from mlship.api.responses import ApiError, error_body, json_response
from mlship.api.security import SecurityHeaders

CallHandler = Callable[[Call], Awaitable[Any]]
logger = logging.getLogger("mlship.api")


def call_endpoint(handler: CallHandler) -> Callable[[Request], Awaitable[Response]]:
    """``handler`` as a FastAPI endpoint (ApiError goes to the app's exception handler)."""

    async def endpoint(request: Request) -> Response:
        return json_response(await handler(Call.from_request(request)))

    return endpoint


@dataclass(frozen=True)
class HotRoute:
    handler: CallHandler
    template: str  # e.g. /v2/models/{name}/infer: one path parameter at most
    headers: list[tuple[bytes, bytes]]  # the security headers of the path

    def match(self, path: str) -> dict[str, str] | None:
        prefix, brace, rest = self.template.partition("{")
        if not brace:
            return {} if path == prefix else None
        name, _, suffix = rest.partition("}")
        if not (path.startswith(prefix) and path.endswith(suffix)):
            return None
        value = path[len(prefix) : len(path) - len(suffix)]
        return {name: value} if value and "/" not in value else None


class ServiceApp(FastAPI):
    """FastAPI behind a direct dispatch of POSTs to the prediction routes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._exact: dict[str, HotRoute] = {}
        self._templated: list[HotRoute] = []
        self._entry: ASGIApp = super().__call__
        self._observer: RequestObserver | None = None
        self._cors = False

    def wrap(self, middleware: Callable[[ASGIApp], ASGIApp]) -> None:
        """Put ``middleware`` around FastAPI (the dispatch does its work itself)."""
        self._entry = middleware(self._entry)

    def dispatch(
        self, handlers: dict[str, CallHandler], observer: RequestObserver, headers: SecurityHeaders
    ) -> None:
        """Serve POST to each route template with its handler (already a FastAPI route)."""
        for template, handler in handlers.items():
            route = HotRoute(handler, template, headers.for_path(template))
            if "{" in template:
                self._templated.append(route)
            else:
                self._exact[template] = route
        self._observer = observer

    def cors_enabled(self) -> None:
        """Cross-origin calls (an ``Origin`` header) then go through the CORS middleware."""
        self._cors = True

    def _hot(self, scope: Scope) -> tuple[HotRoute, dict[str, str]] | None:
        if scope["type"] != "http" or scope["method"] != "POST":
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
        hot = self._hot(scope)
        if hot is None:
            await self._entry(scope, receive, send)
            return
        route, params = hot
        observer = self._observer
        assert observer is not None  # noqa: S101 (set with the routes)
        observation = observer.begin(scope)
        status, extra = 500, None
        try:
            try:
                content = await route.handler(Call.from_scope(scope, receive, params))
                status = 200
            except ApiError as error:
                status, extra = error.status_code, error.headers
                content = error_body(route.template, error.detail)
            except Exception:
                logger.exception("unhandled error", extra={"route": route.template})
                content = error_body(route.template, "internal server error")
            await send_json(send, content, status, extra, [*route.headers, observation[2]])
        finally:
            observer.end(scope, route.template, status, observation)
