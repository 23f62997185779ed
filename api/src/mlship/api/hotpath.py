"""The application class: FastAPI plus a hot lane for the prediction routes.

FastAPI's routing, dependency solving, Starlette's request and response
objects and every middleware layer cost more per call than a small model's
prediction. The prediction endpoints are written as ``CallHandler``s (a
``Call`` in, JSON content out, ``ApiError`` for refusals), so ``ServiceApp``
serves them straight from the ASGI scope when method and path match exactly
(first through the compiled lane, ``lane.pyx``, where one is installed):
it observes the request (ID, metrics, access log) and adds the security
headers itself, with the same objects the middleware uses, so answers, metrics
and logs are the same either way. The handlers are FastAPI routes too
(``call_endpoint``): that gives them their OpenAPI description, FastAPI's
answers to other methods, and serves cross-origin calls when CORS is on
(those need the CORS middleware).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from mlship.api.call import Call, send_json
from mlship.api.middleware import RequestObserver
from mlship.api.responses import ApiError, json_response
from mlship.api.security import SecurityHeaders

if TYPE_CHECKING:  # built only with a C compiler (compiled.AVAILABLE)
    from mlship.api.lane import PredictLane

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
    template: str
    headers: list[tuple[bytes, bytes]]  # the security headers of the path


def _has_origin(scope: Scope) -> bool:
    return any(name == b"origin" for name, _ in scope["headers"])


class ServiceApp(FastAPI):
    """FastAPI behind a hot lane for exact matches of the prediction routes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._hot: dict[tuple[str, str], HotRoute] = {}
        self._compiled: dict[tuple[str, str], ASGIApp] = {}
        self._entry: ASGIApp = super().__call__
        self._observer: RequestObserver | None = None
        self._cors = False
        # What a server should call: this app, or the compiled lane in front of it.
        self.entry: ASGIApp = self

    def wrap(self, middleware: Callable[[ASGIApp], ASGIApp]) -> None:
        """Put ``middleware`` around FastAPI (the hot lane does its work itself)."""
        self._entry = middleware(self._entry)

    def hot_lane(
        self,
        router: APIRouter,
        handlers: dict[str, CallHandler],
        observer: RequestObserver,
        headers: SecurityHeaders,
    ) -> None:
        """Serve POST to each path with its handler; each path is a POST route of ``router``."""
        routes = {
            route.path
            for route in router.routes
            if isinstance(route, APIRoute) and "POST" in (route.methods or ())
        }
        for path, handler in handlers.items():
            if path not in routes:
                raise ValueError(f"{path} is not a POST route of the router")
            self._hot[("POST", path)] = HotRoute(handler, path, headers.for_path(path))
        self._observer = observer

    def cors_enabled(self) -> None:
        """Cross-origin calls (an ``Origin`` header) then go through the CORS middleware."""
        self._cors = True

    def compiled_lane(self, path: str, lane: PredictLane) -> None:
        """Serve POST ``path`` with ``lane``; it hands what it does not serve to ``python_lane``.

        ``lane`` also becomes ``entry``: a server calling it directly saves this
        app's frame on every call of the path.
        """
        self._compiled[("POST", path)] = lane
        self.entry = lane

    def python_lane(self, path: str) -> ASGIApp:
        """The hot lane of ``path`` in Python (``compiled_lane``'s fallback)."""
        hot = self._hot[("POST", path)]

        async def serve(scope: Scope, receive: Receive, send: Send) -> None:
            await self._serve_hot(hot, scope, receive, send)

        return serve

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = (scope["method"], scope["path"])
            compiled = self._compiled.get(route)
            if compiled is not None:
                await compiled(scope, receive, send)
                return
            hot = self._hot.get(route)
            if hot is not None:
                await self._serve_hot(hot, scope, receive, send)
                return
        await self._entry(scope, receive, send)

    async def _serve_hot(self, hot: HotRoute, scope: Scope, receive: Receive, send: Send) -> None:
        if self._cors and _has_origin(scope):
            await self._entry(scope, receive, send)
            return
        observer = self._observer
        assert observer is not None  # noqa: S101 (set with the hot routes)
        observation = observer.begin(scope)
        status, extra = 500, None
        try:
            try:
                content = await hot.handler(Call.from_scope(scope, receive))
                status = 200
            except ApiError as error:
                status, content, extra = error.status_code, {"detail": error.detail}, error.headers
            except Exception:
                logger.exception("unhandled error", extra={"route": hot.template})
                content = {"detail": "internal server error"}
            await send_json(send, content, status, extra, [*hot.headers, observation[2]])
        finally:
            observer.end(scope, hot.template, status, observation)
