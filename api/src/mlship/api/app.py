"""The application factory: ``create_app(settings)`` builds a configured service."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from mlship.api.auth import KeyChecker
from mlship.api.docs import install_docs
from mlship.api.hotpath import ServiceApp
from mlship.api.manager import ModelManager
from mlship.api.metrics import Metrics
from mlship.api.middleware import ObservabilityMiddleware, RequestObserver
from mlship.api.responses import ApiError, api_error_handler, internal_error_handler
from mlship.api.routes import build_router
from mlship.api.security import RateLimiter, SecurityHeaders, SecurityHeadersMiddleware
from mlship.api.service import Service
from mlship.api.settings import Settings
from mlship.api.source import source_for
from mlship.api.v2 import build_v2_router

logger = logging.getLogger("mlship.api")

DESCRIPTION = """Serves an MLflow-registered classifier on ONNX Runtime.

Prediction endpoints take the model's signature as their schema. When API keys
are configured, send one as `X-API-Key` or `Authorization: Bearer` (the
Authorize button below)."""


def create_app(settings: Settings) -> ServiceApp:
    """A service for ``settings``; the model loads in the background once it starts."""
    multiprocess_dir = settings.prometheus_multiproc_dir
    metrics = Metrics(
        multiprocess_dir=str(multiprocess_dir) if multiprocess_dir else None,
        image_ref=settings.image_ref,
    )
    source = source_for(
        settings.model_uri, settings.tracking_uri, settings.registry_timeout_seconds
    )
    manager = ModelManager(
        source,
        metrics,
        settings.reload_interval_seconds,
        batch_max_rows=settings.batch_max_rows,
        batch_max_wait=settings.batch_max_wait_ms / 1000,
    )
    keys = KeyChecker(
        settings.api_keys(), settings.file_keys_loader(), settings.keys_refresh_seconds
    )
    limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    service = Service(settings, metrics, manager, keys, limiter)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not service.keys.enabled:
            logger.warning(
                "no API keys configured: /admin endpoints are disabled and predictions are open"
            )
        logger.info(
            "service starting",
            extra={
                "model_uri": settings.model_uri,
                "tracking_uri": settings.tracking_uri,
                "batch_max_wait_ms": settings.batch_max_wait_ms,
            },
        )
        manager.start()
        flusher = asyncio.create_task(metrics.flush_every(settings.metrics_flush_seconds))
        await manager.wait_for_first_check(settings.startup_load_timeout_seconds)
        # What start-up allocated lives as long as the process: kept out of the collector's
        # full passes, which would otherwise walk it all (tens of ms, a p99 spike) while serving.
        gc.collect()
        gc.freeze()
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
        # A trailing-slash redirect would send clients to the request's own Host header.
        redirect_slashes=False,
    )
    app.state.service = service
    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(Exception, internal_error_handler)
    router, handlers = build_router(service)
    v2_router, v2_handlers = build_v2_router(service)
    app.include_router(router)
    app.include_router(v2_router)
    install_docs(app, manager)
    observer = RequestObserver(metrics, access_log=settings.access_log)
    app.dispatch(handlers | v2_handlers, observer, SecurityHeaders())
    app.wrap(lambda inner: ObservabilityMiddleware(inner, observer))
    if settings.cors_allow_origins:
        origins = list(settings.cors_allow_origins)
        app.wrap(lambda inner: cors(inner, origins))
        app.cors_enabled()
    app.wrap(lambda inner: SecurityHeadersMiddleware(inner, SecurityHeaders()))
    return app


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
    """The factory ``mlship-api`` gives uvicorn (and its workers): settings from the environment."""
    return create_app(Settings())
