"""Open Inference Protocol (KServe V2) REST endpoints, so KServe and Seldon tooling can call in.

Inputs: one tensor of shape [N, n_features] (any name), or one tensor per
feature named as in the signature, shape [N] or [N, 1] (``validation.py``).
Outputs: ``predict`` (INT64 class indices, [N]) and ``predict_proba`` (FP64,
[N, classes]). Errors follow the protocol: ``{"error": "..."}``.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from mlship.api.hotpath import CallHandler, call_endpoint
from mlship.api.responses import (
    V2_OUTPUTS,
    V2InferResponse,
    error_responses,
    json_response,
    v2_infer_response,
)
from mlship.api.routes import answer_head, predictor
from mlship.api.served import ServedModel
from mlship.api.service import Service
from mlship.api.validation import V2_DATATYPES, InputError, tensor_rows

INFER_PATH = "/v2/models/{name}/infer"
STRING = {"type": "string"}
TENSOR = {
    "type": "object",
    "properties": {
        "name": STRING,
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "datatype": {"enum": sorted(V2_DATATYPES)},
        "data": {"type": "array"},
    },
    "required": ["name", "shape", "datatype", "data"],
}
INFER = {
    "type": "object",
    "properties": {
        "id": STRING,
        "inputs": {"type": "array", "items": TENSOR, "minItems": 1},
        "outputs": {"type": "array", "items": {"type": "object", "properties": {"name": STRING}}},
    },
    "required": ["inputs"],
}


def requested_outputs(payload: Any) -> list[str]:
    """The output names a request asks for (all when it names none)."""
    requested = payload.get("outputs")
    if requested is None:
        return []
    if type(requested) is not list or not all(
        type(output) is dict and type(output.get("name")) is str for output in requested
    ):
        message = 'must be an array of objects with a "name" string'
        raise InputError(("outputs",), message, "outputs_shape")
    wanted = [str(output["name"]) for output in requested]
    unknown = [name for name in wanted if name not in V2_OUTPUTS]
    if unknown:
        message = f"unknown outputs {unknown}; this model has {list(V2_OUTPUTS)}"
        raise InputError(("outputs",), message, "unknown_output")
    return wanted


def _metadata(model: ServedModel) -> dict[str, Any]:
    return {
        "name": model.ref.name,
        "versions": [model.ref.version],
        "platform": f"mlship-{model.runtime.name}",
        "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, len(model.features)]}],
        "outputs": [
            {"name": "predict", "datatype": "INT64", "shape": [-1]},
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(model.class_names)]},
        ],
        "parameters": {"features": list(model.features), "class_names": list(model.class_names)},
    }


def build_v2_router(service: Service) -> tuple[APIRouter, dict[str, CallHandler]]:
    """The V2 router, and its inference handler for ``ServiceApp``'s dispatch."""
    router = APIRouter(tags=["open inference protocol (v2)"])
    max_rows = service.settings.max_batch_rows

    def parse(payload: Any, model: ServedModel) -> Any:
        rows = tensor_rows(payload, model.features, max_rows)
        requested_outputs(payload)  # refused before the model runs
        return rows

    infer = predictor(
        service,
        parse,
        lambda model, probabilities, payload: v2_infer_response(
            model, probabilities, requested_outputs(payload), payload.get("id")
        ),
        "v2",
        refusal=400,
    )
    router.add_api_route(
        INFER_PATH, call_endpoint(infer), methods=["POST"], summary="Inference",
        response_model=V2InferResponse,
        responses=error_responses(400, 401, 403, 404, 413, 415, 429, 503, v2=True),
        openapi_extra={
            "parameters": [{"name": "name", "in": "path", "required": True, "schema": STRING}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": INFER}}},
            "security": [{"APIKeyHeader": []}, {"HTTPBearer": []}, {}],
        },
    )  # fmt: skip

    @router.get("/v2", summary="Server metadata")
    async def server_metadata() -> Response:
        return json_response(
            {"name": "mlship-api", "version": version("mlship-api"), "extensions": []}
        )

    @router.get("/v2/health/live", summary="Server live")
    async def server_live() -> Response:
        return json_response({"live": True})

    @router.get(
        "/v2/health/ready",
        summary="Server ready (a model is loaded)",
        responses={503: {"description": "no model loaded yet"}},
    )
    async def server_ready() -> Response:
        ready = service.manager.current is not None
        return json_response({"ready": ready}, 200 if ready else 503)

    @router.get(
        "/v2/models/{name}", summary="Model metadata", responses=error_responses(404, 503, v2=True)
    )
    async def model_metadata(name: str) -> Response:
        return json_response(_metadata(service.model(name)))

    @router.get(
        "/v2/models/{name}/ready",
        summary="Model ready",
        responses=error_responses(404, 503, v2=True),
    )
    async def model_ready(name: str) -> Response:
        service.model(name)
        return json_response({"name": name, "ready": True})

    answer_head(router, "/v2/health/live", "/v2/health/ready")
    return router, {INFER_PATH: infer}
