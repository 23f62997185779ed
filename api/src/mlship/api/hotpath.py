"""The application class: a FastAPI app with a direct dispatch for the prediction routes.

FastAPI's routing, dependency solving and middleware stack cost far more per
call than a small model's prediction. The prediction endpoints take no
FastAPI parameters (they read the raw request), so ``ServiceApp`` calls them
directly when method and path match exactly; everything else, including the
same routes' OpenAPI description, goes through FastAPI as usual. The
observability middleware wraps both paths, so metrics and logs are identical.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from mlship.api.responses import ApiError, api_error_handler, json_response

Endpoint = Callable[[Request], Awaitable[Response]]
logger = logging.getLogger("mlship.api")


class ServiceApp(FastAPI):
    """FastAPI plus an exact-match fast path for the hot endpoints."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._hot: dict[tuple[str, str], tuple[Endpoint, APIRoute]] = {}
        self._entry: ASGIApp = self._dispatch

    def wrap(self, middleware: Callable[[ASGIApp], ASGIApp]) -> None:
        """Put ``middleware`` around both the fast path and FastAPI."""
        self._entry = middleware(self._entry)

    def hot_paths(self, router: APIRouter, *paths: str) -> None:
        """Dispatch POST ``paths`` of ``router`` (included in this app) to their endpoints."""
        for route in router.routes:
            if (
                isinstance(route, APIRoute)
                and route.path in paths
                and "POST" in (route.methods or ())
            ):
                self._hot[("POST", route.path)] = (route.endpoint, route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._entry(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = self._hot.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        if hot is None:
            await super().__call__(scope, receive, send)
            return
        endpoint, route = hot
        scope["route"] = route
        request = Request(scope, receive)
        try:
            response = await endpoint(request)
        except ApiError as error:
            response = await api_error_handler(request, error)
        except Exception:
            logger.exception("unhandled error", extra={"route": route.path})
            response = json_response({"detail": "internal server error"}, 500)
        await response(scope, receive, send)
