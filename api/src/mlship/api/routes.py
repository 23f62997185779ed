"""The service's own endpoints: prediction, health, model description, metrics, admin."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import numpy as np
from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from mlship.api.call import Call
from mlship.api.hotpath import CallHandler, call_endpoint
from mlship.api.jsonbody import decode
from mlship.api.responses import (
    ApiError,
    BatchPrediction,
    Prediction,
    batch_prediction,
    error_responses,
    json_response,
    prediction,
)
from mlship.api.served import NonFiniteOutputError, ServedModel
from mlship.api.service import Service
from mlship.api.settings import Settings
from mlship.api.validation import InputError, TooManyRowsError, batch_rows, single_row

Parse = Callable[[Any, ServedModel, Call], np.ndarray]
Read = Callable[[Call, int], Awaitable[bytes]]
Respond = Callable[[ServedModel, np.ndarray, Any], Any]


def request_schemas(
    settings: Settings, features: Sequence[str] | None = None
) -> dict[str, dict[str, Any]]:
    """The bodies of ``/predict`` and ``/predict/batch`` the service answers, as JSON Schemas.

    Given the model's ``features`` the schemas are exact: every body they allow is
    answered with a 200 (duplicate keys aside, which JSON Schema cannot see).
    """
    limit = settings.max_feature_magnitude
    number = {"type": "number", "minimum": -limit, "maximum": limit}
    values: dict[str, Any] = {"type": "array", "items": number}
    named: dict[str, Any] = {"type": "object", "additionalProperties": number}
    if features is not None:
        values |= {"minItems": len(features), "maxItems": len(features)}
        named = {"type": "object", "properties": dict.fromkeys(features, number)}
        named |= {"required": [*features], "additionalProperties": False}
    row = {"oneOf": [values, named]}
    instances = {"type": "array", "items": row, "minItems": 1, "maxItems": settings.max_batch_rows}

    def only(name: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {name: schema},
            "required": [name],
            "additionalProperties": False,
        }

    single = {"oneOf": [only("features", row), named]}
    return {
        "/predict": named if features and "features" in features else single,
        "/predict/batch": only("instances", instances),
    }


ERRORS = error_responses(401, 403, 413, 415, 422, 429, 503)


def answer_head(router: APIRouter, *paths: str) -> None:
    """HEAD on ``paths`` too, as their GET (probes and load balancers send it; no body goes)."""
    endpoints = {
        route.path: route.endpoint for route in router.routes if isinstance(route, APIRoute)
    }
    for path in paths:
        router.add_api_route(path, endpoints[path], methods=["HEAD"], include_in_schema=False)


def body_spec(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
        "security": [{"APIKeyHeader": []}, {"HTTPBearer": []}, {}],
    }


def predictor(
    service: Service,
    parse: Parse,
    respond: Respond,
    endpoint: str,
    refusal: int = 422,
    *,
    read: Read = Call.json_body,
) -> CallHandler:
    """A prediction endpoint: admit, take the model, read and parse the body, predict, respond.

    Every prediction endpoint is this one sequence; they differ only in how a body
    becomes rows (``parse``), how probabilities become a body (``respond``) and the
    status of a refused input (422, or 400 on the Open Inference Protocol).
    """
    max_bytes = service.settings.max_body_bytes

    async def handle(call: Call) -> Any:
        service.admit(call)
        model = service.model(**call.params)
        body = await read(call, max_bytes)
        try:
            payload = decode(body)
            rows = parse(payload, model, call)
        except InputError as error:
            raise ApiError(
                refusal, error.detail() if refusal == 422 else error.sentence()
            ) from None
        except TooManyRowsError as error:
            raise ApiError(413, f"{error} (API_MAX_BATCH_ROWS)") from None
        try:
            probabilities = await model.predict(rows, endpoint)
        except NonFiniteOutputError as error:
            raise ApiError(refusal, str(error)) from None
        return respond(model, probabilities, payload)

    return handle


def build_router(service: Service) -> tuple[APIRouter, dict[str, CallHandler]]:
    """The router, and the prediction handlers for ``ServiceApp``'s dispatch."""
    router = APIRouter()
    settings, manager = service.settings, service.manager
    max_rows, limit = settings.max_batch_rows, settings.max_feature_magnitude
    handlers = {
        "/predict": predictor(
            service,
            lambda payload, model, _: single_row(payload, model.features, limit),
            lambda model, probabilities, _: prediction(model, probabilities),
            "predict",
        ),
        "/predict/batch": predictor(
            service,
            lambda payload, model, _: batch_rows(payload, model.features, max_rows, limit),
            lambda model, probabilities, _: batch_prediction(model, probabilities),
            "batch",
        ),
    }
    schemas = request_schemas(settings)
    for path, model, summary in (
        ("/predict", Prediction, "Predict the class of one row"),
        ("/predict/batch", BatchPrediction, "Predict many rows in one runtime call"),
    ):
        router.add_api_route(
            path, call_endpoint(handlers[path]), methods=["POST"], tags=["prediction"],
            summary=summary, response_model=model, openapi_extra=body_spec(schemas[path]),
            responses=ERRORS,
        )  # fmt: skip

    @router.get("/health/live", tags=["health"], summary="The process is up")
    async def live() -> Response:
        return json_response({"status": "live"})

    @router.get(
        "/health/ready",
        tags=["health"],
        summary="A model is loaded (503 otherwise); reports the registry's reachability",
        responses={503: {"description": "no model loaded yet"}},
    )
    async def ready() -> Response:
        current = manager.current
        body: dict[str, Any] = {
            "status": "ready" if current else "not ready",
            "model_name": current.ref.name if current else None,
            "model_version": current.ref.version if current else None,
            "registry": manager.registry.describe(),
        }
        if current is None:
            body["reason"] = f"no model loaded yet: {manager.waiting_reason}"
        return json_response(body, 200 if current else 503)

    @router.get(
        "/model",
        tags=["model"],
        summary="The model being served, its runtime and the registry state",
        responses={503: {"description": "no model loaded yet"}},
    )
    async def describe_model() -> Response:
        current = manager.current
        body: dict[str, Any] = {
            "loaded": current is not None,
            "model_uri": settings.model_uri,
            "registry": manager.registry.describe(),
            "failed_versions": manager.failed_versions,
        }
        if current is None:
            body["reason"] = f"no model loaded yet: {manager.waiting_reason}"
            return json_response(body, 503)
        return json_response({**current.describe(), **body})

    @router.get(
        "/metrics", tags=["health"], summary="Prometheus metrics", response_class=PlainTextResponse
    )
    async def metrics() -> Response:
        content, content_type = service.metrics.render()
        return Response(content, media_type=content_type)

    @router.post(
        "/admin/reload",
        tags=["admin"],
        summary="Check the registry now and load a new version if the alias moved",
        openapi_extra={"security": [{"APIKeyHeader": []}, {"HTTPBearer": []}]},
        responses=error_responses(401, 403),
    )
    async def reload(request: Request) -> Response:
        if not service.keys.enabled:
            raise ApiError(403, "admin endpoints are disabled: configure API_KEYS or API_KEYS_FILE")
        service.keys.require(request.headers)
        outcome = await manager.refresh()
        current = manager.current
        return json_response(
            {
                "outcome": outcome,
                "model_version": current.ref.version if current else None,
                "registry": manager.registry.describe(),
                "failed_versions": manager.failed_versions,
            }
        )

    answer_head(router, "/health/live", "/health/ready")
    return router, handlers
