"""The application factory: ``create_app(settings)`` builds a configured service."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from mlship.api import compiled
from mlship.api.auth import KeyChecker
from mlship.api.docs import install_docs
from mlship.api.hotpath import ServiceApp
from mlship.api.manager import ModelManager
from mlship.api.metrics import Metrics
from mlship.api.middleware import ObservabilityMiddleware, RequestObserver, access_logger
from mlship.api.responses import ApiError, api_error_handler
from mlship.api.routes import build_router
from mlship.api.security import RateLimiter, SecurityHeaders, SecurityHeadersMiddleware
from mlship.api.service import Service
from mlship.api.settings import Settings
from mlship.api.source import source_for
from mlship.api.v2 import build_v2_router

logger = logging.getLogger("mlship.api")

DESCRIPTION = """Serves an MLflow-registered scikit-learn classifier.

Prediction endpoints take the model's signature as their schema. When API keys
are configured, send one as `X-API-Key` or `Authorization: Bearer` (the
Authorize button below)."""


def _bound_registry_calls(settings: Settings) -> None:
    """Fail registry calls fast so an unreachable server is reported, not waited on."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(settings.registry_timeout_seconds))


def create_app(settings: Settings) -> ServiceApp:
    """A service for ``settings``; the model loads in the background once it starts."""
    multiprocess_dir = settings.prometheus_multiproc_dir
    metrics = Metrics(
        multiprocess_dir=str(multiprocess_dir) if multiprocess_dir else None,
        image_ref=settings.image_ref,
    )
    source = source_for(settings.model_uri, settings.tracking_uri)
    manager = ModelManager(
        source, metrics, settings.reload_interval_seconds, lane=settings.compiled_lane
    )
    keys = KeyChecker(
        settings.api_keys(), settings.file_keys_loader(), settings.keys_refresh_seconds
    )
    limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    service = Service(settings, metrics, manager, keys, limiter)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _bound_registry_calls(settings)
        if not service.keys.enabled:
            logger.warning(
                "no API keys configured: /admin endpoints are disabled and predictions are open"
            )
        logger.info(
            "service starting",
            extra={
                "model_uri": settings.model_uri,
                "tracking_uri": settings.tracking_uri,
                "predict_lane": lane,
            },
        )
        if settings.compiled_lane and not compiled.AVAILABLE:
            logger.warning(
                "the compiled lane was not built (no C compiler when mlship-api was installed): "
                "/predict is served by the Python lane"
            )
        manager.start()
        flusher = asyncio.create_task(metrics.flush_every(settings.metrics_flush_seconds))
        await manager.wait_for_first_check(settings.startup_load_timeout_seconds)
        try:
            yield
        finally:
            flusher.cancel()
            await manager.stop()
            metrics.close()

    app = ServiceApp(
        title="mlship inference API",
        version="0.1.0",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = service
    app.add_exception_handler(ApiError, api_error_handler)
    routes = build_router(service)
    app.include_router(routes.router)
    app.include_router(build_v2_router(service))
    install_docs(app, manager)
    observer = RequestObserver(metrics, access_log=settings.access_log)
    security_headers = SecurityHeaders()
    app.hot_lane(routes.router, routes.hot, observer, security_headers)
    lane = _install_compiled_lane(app, service, observer, security_headers)
    app.wrap(lambda inner: ObservabilityMiddleware(inner, observer))
    if settings.cors_allow_origins:
        origins = list(settings.cors_allow_origins)
        app.wrap(lambda inner: cors(inner, origins))
        app.cors_enabled()
    app.wrap(lambda inner: SecurityHeadersMiddleware(inner, security_headers))
    return app


def _install_compiled_lane(
    app: ServiceApp, service: Service, observer: RequestObserver, headers: SecurityHeaders
) -> str:
    """Put the compiled lane in front of /predict where it applies; says which lane serves it.

    With API keys the lane checks the key through the service's ``KeyChecker``;
    rate limits need the Python lane's accounting, so they keep every call there.
    """
    settings, metrics = service.settings, service.metrics
    if not settings.compiled_lane:
        return "python (API_COMPILED_LANE=false)"
    if not compiled.AVAILABLE:
        return "python (compiled lane not built)"
    if service.limiter.enabled:
        return "python (a rate limit is configured)"
    requests, duration = observer.mirrors("/predict", "POST", 200)
    failures, _ = observer.mirrors("/predict", "POST", 500)
    lane = compiled.PredictLane(
        app, "/predict", app.python_lane("/predict"), service.manager, metrics,
        headers.for_path("/predict"), requests, failures, duration,
        metrics.http_duration._upper_bounds,
        settings.max_body_bytes, bool(settings.cors_allow_origins),
        access_logger if settings.access_log else None,
        service.keys if service.keys.enabled else None,
    )  # fmt: skip
    app.compiled_lane("/predict", lane)
    return "compiled"


def cors(app: ASGIApp, origins: list[str]) -> ASGIApp:
    """CORS for the configured origins only; API keys travel in headers, never cookies."""
    return CORSMiddleware(
        app,
        allow_origins=origins,
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type", "X-API-Key", "Authorization", "X-Request-ID"],
        expose_headers=["X-Request-ID", "Retry-After"],
        max_age=600,
    )


def app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory mlship.api.app:app_from_environment``."""
    return create_app(Settings())


def entry_from_environment() -> ASGIApp:
    """The factory ``mlship-api`` gives uvicorn (and its workers): the app's ``entry``.

    That is the compiled lane in front of the app when one is installed, an
    ASGI 3 callable uvicorn cannot recognise by inspection, so ``__main__``
    names the interface (``--interface asgi3`` by hand).
    """
    return create_app(Settings()).entry
