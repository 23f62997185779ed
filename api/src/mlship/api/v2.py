"""Open Inference Protocol (KServe V2) REST endpoints: KServe, Seldon and Triton clients call in.

Inputs: one [N, n_features] tensor (any name) or one tensor per feature, [N] or
[N, 1] (``validation.py``), as JSON or binary tensor data (``v2_binary``).
Outputs: ``predict`` (INT64 class indices, [N]), ``predict_proba`` (FP64, [N,
classes]). Model paths also exist under ``/versions/{version}`` (the served one).
Errors are the protocol's ``{"error": "..."}``; what this server does not do is
refused that way, by name.
"""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet
from importlib.metadata import version
from typing import Any

import numpy as np
from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

from mlship.api.call import Call
from mlship.api.hotpath import CallHandler, call_endpoint
from mlship.api.responses import (
    V2_OUTPUTS,
    ApiError,
    V2InferResponse,
    error_responses,
    json_response,
    v2_infer_response,
)
from mlship.api.routes import answer_head, predictor
from mlship.api.served import ServedModel
from mlship.api.service import Service
from mlship.api.tensors import V2_DATATYPES, tensor_rows
from mlship.api.v2_binary import framed, input_chunks, read
from mlship.api.validation import InputError, Loc

MODEL = "/v2/models/{name}"
VERSIONED = MODEL + "/versions/{version}"
EXTENSIONS = ["binary_tensor_data"]
NO_BINARY: frozenset[str] = frozenset()
# Parameters this server does not honour, refused rather than silently ignored.
REQUEST_UNSUPPORTED = {
    "sequence_id": "sequences are not supported: every request stands alone",
    "priority": "priorities are not supported: requests are served as they come",
    "timeout": "time-outs are not supported: a prediction takes microseconds",
}
NOT_CLASSIFICATION = "classification is not supported: predict_proba has every class's probability"
OUTPUT_UNSUPPORTED = {
    "classification": NOT_CLASSIFICATION,
    "class_count": NOT_CLASSIFICATION,
    "shared_memory_region": "shared memory is not supported: outputs come in the response",
}


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


STRING, BOOLEAN = {"type": "string"}, {"type": "boolean"}
TENSOR = _object(
    name={"type": "string", "minLength": 1},
    shape={
        "type": "array",
        "items": {"type": "integer", "minimum": 0},
        "minItems": 1,
        "maxItems": 2,
    },
    datatype={"enum": sorted(V2_DATATYPES)},
    data={"type": "array"},
) | {"required": ["name", "shape", "datatype", "data"]}
INFER = _object(
    id=STRING,
    parameters=_object(binary_data_output=BOOLEAN),
    inputs={"type": "array", "items": TENSOR, "minItems": 1},
    outputs={
        "type": "array",
        "items": _object(name={"enum": list(V2_OUTPUTS)}, parameters=_object(binary_data=BOOLEAN))
        | {"required": ["name"]},
    },
) | {"required": ["inputs"]}
BINARY = {"schema": {"type": "string", "format": "binary"}}
# Described, not declared: JSON Schema cannot tie the header to the body's length.
BINARY_REQUESTS = "Binary tensor data: see the Inference-Header-Content-Length header (README)."
INFER_SPEC = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": INFER}}},
    "security": [{"APIKeyHeader": []}, {"HTTPBearer": []}, {}],
}
INFER_RESPONSES = {
    **error_responses(400, 401, 403, 404, 413, 415, 429, 503, v2=True),
    200: {
        "description": "the outputs; with binary outputs, their JSON then their bytes",
        "content": {"application/octet-stream": BINARY},
        "headers": {"Inference-Header-Content-Length": {"schema": {"type": "integer"}}},
    },
}


def path_parameters(path: str) -> list[dict[str, Any]]:
    names = re.findall(r"{(\w+)}", path)
    return [{"name": name, "in": "path", "required": True, "schema": STRING} for name in names]


def _parameters(holder: dict[str, Any], loc: Loc, unsupported: dict[str, str]) -> dict[str, Any]:
    """``holder``'s ``parameters`` ({} without); refuses those this server does not honour."""
    parameters = holder.get("parameters", {})
    if type(parameters) is not dict:  # null too, as the schema says
        raise InputError(loc, "must be an object", "parameters")
    for key, rule in unsupported.items():
        if parameters.get(key):  # 0, false or "": nothing asked
            raise InputError((*loc, key), rule, "unsupported")
    return parameters


def _flag(parameters: dict[str, Any], key: str, loc: Loc, default: bool) -> bool:
    value = parameters.get(key, default)
    if type(value) is not bool:
        raise InputError((*loc, key), "must be true or false", "parameters")
    return value


def requested_outputs(payload: dict[str, Any]) -> tuple[list[str], AbstractSet[str]]:
    """The outputs a request asks for (all when it names none) and those to send as binary."""
    if "outputs" not in payload and "parameters" not in payload:  # the plain request, kept cheap
        return [], NO_BINARY
    loc: Loc = ("parameters",)
    binary = _flag(_parameters(payload, loc, REQUEST_UNSUPPORTED), "binary_data_output", loc, False)
    if "outputs" not in payload:
        return [], frozenset(V2_OUTPUTS) if binary else NO_BINARY
    requested = payload["outputs"]  # null is refused, as the schema says
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
    binaries = set()
    for index, output in enumerate(requested):
        loc = ("outputs", index, "parameters")
        if _flag(_parameters(output, loc, OUTPUT_UNSUPPORTED), "binary_data", loc, binary):
            binaries.add(output["name"])
    return wanted, binaries


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
    """The V2 router, and its inference handlers for ``ServiceApp``'s dispatch."""
    router = APIRouter(tags=["open inference protocol (v2)"])
    max_rows, limit = service.settings.max_batch_rows, service.settings.max_feature_magnitude

    def parse(payload: Any, model: ServedModel, call: Call) -> np.ndarray:
        chunks = () if call.tail is None else input_chunks(payload, call.tail)
        rows = tensor_rows(payload, model.features, max_rows, chunks, limit)
        if type(payload.get("id", "")) is not str:
            raise InputError(("id",), "must be a string", "id")
        requested_outputs(payload)  # refused before the model runs
        return rows

    def respond(model: ServedModel, probabilities: np.ndarray, payload: Any) -> Any:
        wanted, binary = requested_outputs(payload)
        blobs: list[bytes] = []
        response = v2_infer_response(
            model, probabilities, wanted, payload.get("id"), binary=binary, blobs=blobs
        )
        return framed(response, blobs) if blobs else response

    infer = predictor(service, parse, respond, "v2", refusal=400, read=read)
    for path in (MODEL + "/infer", VERSIONED + "/infer"):
        router.add_api_route(
            path, call_endpoint(infer), methods=["POST"], summary="Inference",
            description=BINARY_REQUESTS, response_model=V2InferResponse,
            responses=INFER_RESPONSES,
            openapi_extra={**INFER_SPEC, "parameters": path_parameters(path)},
        )  # fmt: skip

    @router.get("/v2", summary="Server metadata")
    async def server_metadata() -> Response:
        body = {"name": "mlship-api", "version": version("mlship-api"), "extensions": EXTENSIONS}
        return json_response(body)

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

    async def model_metadata(request: Request) -> Response:
        return json_response(_metadata(service.model(**request.path_params)))

    async def model_ready(request: Request) -> Response:
        model = service.model(**request.path_params)
        return json_response({"name": model.ref.name, "ready": True})

    endpoints = {"": (model_metadata, "Model metadata"), "/ready": (model_ready, "Model ready")}
    for path in (MODEL, VERSIONED):
        for suffix, (endpoint, summary) in endpoints.items():
            router.add_api_route(
                path + suffix, endpoint, methods=["GET"], summary=summary,
                responses=error_responses(404, 503, v2=True),
                openapi_extra={"parameters": path_parameters(path)},
            )  # fmt: skip

    answer_head(router, "/v2/health/live", "/v2/health/ready")
    routes = [route for route in router.routes if isinstance(route, APIRoute)]

    async def not_supported(request: Request) -> Response:
        # Another extension's path (model configuration, repository, shared memory...) or
        # a wrong method, answered with the protocol's error object a client can show.
        allowed = sorted(
            method
            for route in routes
            if route.matches(request.scope)[0] is Match.PARTIAL
            for method in route.methods or ()
        )
        if allowed:
            methods = ", ".join(allowed)
            raise ApiError(405, f"method not allowed: {methods}", {"Allow": methods})
        served = "health, metadata and inference, with the extensions " + ", ".join(EXTENSIONS)
        raise ApiError(404, f"{request.url.path} is not part of this server: it serves {served}")

    router.add_api_route(
        "/v2/{path:path}", not_supported, include_in_schema=False,
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    )  # fmt: skip
    return router, {MODEL + "/infer": infer, VERSIONED + "/infer": infer}
