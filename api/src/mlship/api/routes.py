"""The service's own endpoints: prediction, health, model description, metrics, admin."""

from __future__ import annotations

from typing import Any, NamedTuple

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from mlship.api.call import Call
from mlship.api.hotpath import CallHandler, call_endpoint
from mlship.api.responses import ApiError, error_responses, json_response
from mlship.api.service import Service
from mlship.api.validation import InputError, TooManyRowsError, decode, parse_batch, parse_single

NUMBER = {"type": "number"}
ROW = {
    "oneOf": [
        {"type": "array", "items": NUMBER, "description": "values in signature order"},
        {"type": "object", "additionalProperties": NUMBER, "description": "values by name"},
    ]
}
SINGLE_SCHEMA = {
    "oneOf": [
        {"type": "object", "properties": {"features": ROW}, "required": ["features"]},
        {"type": "object", "additionalProperties": NUMBER, "description": "named features"},
    ]
}
BATCH_SCHEMA = {
    "type": "object",
    "properties": {"instances": {"type": "array", "items": ROW, "minItems": 1}},
    "required": ["instances"],
}
ERRORS = error_responses(401, 403, 413, 415, 422, 429, 503)


def body_spec(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        },
        "security": [{"APIKeyHeader": []}, {"HTTPBearer": []}, {}],
    }


class ServiceRoutes(NamedTuple):
    router: APIRouter
    hot: dict[str, CallHandler]  # served by ServiceApp's direct dispatch as well


def build_router(service: Service) -> ServiceRoutes:
    router = APIRouter()
    settings = service.settings
    manager = service.manager

    async def predict(call: Call) -> dict[str, Any]:
        service.admit(call)
        model = service.model()
        body = await call.json_body(settings.max_body_bytes)
        try:
            row = parse_single(decode(body), model.features)
        except InputError as error:
            raise ApiError(422, error.detail()) from None
        index, probabilities = model.infer_one(row)
        names = model.class_names
        return {
            "class_index": index,
            "class_name": names[index],
            "probabilities": dict(zip(names, probabilities, strict=True)),
            "model_name": model.ref.name,
            "model_version": model.ref.version,
        }

    async def predict_batch(call: Call) -> dict[str, Any]:
        service.admit(call)
        model = service.model()
        body = await call.json_body(settings.max_body_bytes)
        try:
            rows = parse_batch(decode(body), model.features, settings.max_batch_rows)
        except InputError as error:
            raise ApiError(422, error.detail()) from None
        except TooManyRowsError as error:
            raise ApiError(413, f"{error} (API_MAX_BATCH_ROWS)") from None
        probabilities = model.infer(rows, "batch")
        names = model.class_names
        indexes = probabilities.argmax(axis=1).tolist()
        predictions = [
            {
                "class_index": index,
                "class_name": names[index],
                "probabilities": dict(zip(names, row, strict=True)),
            }
            for index, row in zip(indexes, probabilities.tolist(), strict=True)
        ]
        return {
            "model_name": model.ref.name,
            "model_version": model.ref.version,
            "predictions": predictions,
        }

    router.add_api_route(
        "/predict",
        call_endpoint(predict),
        methods=["POST"],
        tags=["prediction"],
        summary="Predict the class of one row",
        openapi_extra=body_spec(SINGLE_SCHEMA),
        responses=ERRORS,
    )
    router.add_api_route(
        "/predict/batch",
        call_endpoint(predict_batch),
        methods=["POST"],
        tags=["prediction"],
        summary="Predict many rows in one vectorised call",
        openapi_extra=body_spec(BATCH_SCHEMA),
        responses=ERRORS,
    )

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
        summary="The model being served and the registry state",
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
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
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

    return ServiceRoutes(router, {"/predict": predict, "/predict/batch": predict_batch})
