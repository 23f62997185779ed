"""Every response body: its type (the OpenAPI 200 schema) and the one function that builds it.

Bodies are ``TypedDict``s: FastAPI documents them as response models, mypy
checks every builder against them, and they serialise with orjson without a
validation pass per request. A new response field is one line in its type
and one in its builder, here.
"""

from __future__ import annotations

from collections.abc import Container
from typing import TYPE_CHECKING, Any, NotRequired

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response
from typing_extensions import TypedDict  # pydantic documents TypedDicts from here on 3.11

if TYPE_CHECKING:
    from mlship.api.served import ServedModel

JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


class ClassProbabilities(TypedDict):
    class_index: int
    class_name: str
    probabilities: dict[str, float]


class Prediction(ClassProbabilities):
    model_name: str
    model_version: str


class BatchPrediction(TypedDict):
    model_name: str
    model_version: str
    predictions: list[ClassProbabilities]


class V2Tensor(TypedDict):
    name: str
    datatype: str
    shape: list[int]
    data: NotRequired[list[float] | list[int]]
    parameters: NotRequired[dict[str, int]]  # binary_data_size, instead of data


class V2InferResponse(TypedDict):
    model_name: str
    model_version: str
    id: NotRequired[str]
    outputs: list[V2Tensor]


# Each output's datatype and its little-endian layout as binary tensor data.
V2_OUTPUTS = {"predict": ("INT64", "<i8"), "predict_proba": ("FP64", "<f8")}


def _row(names: tuple[str, ...], probabilities: list[float]) -> ClassProbabilities:
    index = probabilities.index(max(probabilities))  # the first maximum, as numpy's argmax
    return {
        "class_index": index,
        "class_name": names[index],
        "probabilities": dict(zip(names, probabilities, strict=True)),
    }


def prediction(model: ServedModel, probabilities: np.ndarray) -> Prediction:
    row = _row(model.class_names, probabilities[0].tolist())
    return {**row, "model_name": model.ref.name, "model_version": model.ref.version}


def batch_prediction(model: ServedModel, probabilities: np.ndarray) -> BatchPrediction:
    names = model.class_names
    return {
        "model_name": model.ref.name,
        "model_version": model.ref.version,
        "predictions": [_row(names, row) for row in probabilities.tolist()],
    }


def v2_infer_response(
    model: ServedModel,
    probabilities: np.ndarray,
    wanted: list[str],
    request_id: Any,
    *,
    binary: Container[str] = (),
    blobs: list[bytes] | None = None,
) -> V2InferResponse:
    """The outputs ``wanted`` (all when empty); those in ``binary`` go as binary data:
    their bytes are appended to ``blobs``, and ``parameters.binary_data_size`` replaces ``data``.
    """
    values = {"predict": probabilities.argmax(axis=1), "predict_proba": probabilities}
    outputs: list[V2Tensor] = []
    for name in wanted or V2_OUTPUTS:
        datatype, layout = V2_OUTPUTS[name]
        tensor: V2Tensor = {"name": name, "datatype": datatype, "shape": list(values[name].shape)}
        if blobs is not None and name in binary:
            blobs.append(values[name].astype(layout).tobytes())
            tensor["parameters"] = {"binary_data_size": len(blobs[-1])}
        else:
            tensor["data"] = values[name].ravel().tolist()
        outputs.append(tensor)
    response: V2InferResponse = {
        "model_name": model.ref.name,
        "model_version": model.ref.version,
        "outputs": outputs,
    }
    if type(request_id) is str:
        response["id"] = request_id
    return response


def json_response(
    content: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(content, option=JSON_OPTIONS),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


ERROR_SCHEMA = {
    "type": "object",
    "properties": {"detail": {"description": "a message, or a list of {loc, msg} for 422"}},
    "required": ["detail"],
}
V2_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string"}},
    "required": ["error"],
}
ERROR_MEANINGS = {
    400: "the request breaks the protocol (Open Inference Protocol errors)",
    401: "API key missing (keys are configured)",
    403: "API key not valid",
    404: "no such model here",
    413: "body or batch larger than the configured limits",
    415: "content type is not application/json",
    422: "input breaks the model's signature (the field and rule are named)",
    429: "rate limit exceeded for this key or address (see Retry-After)",
    503: "no model loaded yet (see Retry-After)",
}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}}


def error_responses(*codes: int, v2: bool = False) -> dict[int | str, Any]:
    """OpenAPI ``responses`` for the error statuses ``codes`` (``error_body``'s shapes)."""
    declared: dict[int | str, Any] = {}
    for code in codes:
        body = V2_ERROR_SCHEMA if v2 else ERROR_SCHEMA
        declared[code] = {
            "description": ERROR_MEANINGS[code],
            "content": {"application/json": {"schema": body}},
        }
        if code in (429, 503):
            declared[code]["headers"] = RETRY_AFTER
    return declared


class ApiError(Exception):
    """An expected failure with its HTTP status; rendered by ``error_body``."""

    def __init__(
        self, status_code: int, detail: Any, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(str(detail))
        self.status_code, self.detail, self.headers = status_code, detail, headers


def error_body(route: str, detail: Any) -> dict[str, Any]:
    """``{"error": "..."}`` on the Open Inference Protocol's routes, else ``{"detail": ...}``."""
    if route.startswith("/v2"):
        return {"error": detail if isinstance(detail, str) else str(detail)}
    return {"detail": detail}


INTERNAL = "internal server error"


async def internal_error_handler(request: Request, error: Exception) -> Response:
    """A JSON 500 (never Python's text) for an error no handler expected; it is still logged."""
    return json_response(error_body(request.url.path, INTERNAL), 500)


async def api_error_handler(request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)  # noqa: S101 (registered for ApiError only)
    route = getattr(request.scope.get("route"), "path", "")
    return json_response(error_body(route, error.detail), error.status_code, error.headers)
