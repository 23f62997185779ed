"""Open Inference Protocol (KServe V2) REST endpoints, so KServe and Seldon tooling can call in.

Inputs: one tensor of shape [N, n_features] (any name), or one tensor per
feature named as in the signature, shape [N] or [N, 1]. Outputs:
``predict`` (INT64 class indices, [N]) and ``predict_proba`` (FP64, [N, classes]).
Errors follow the protocol: ``{"error": "..."}``.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import numpy as np
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from mlship.api.call import Call
from mlship.api.responses import ApiError, error_responses, json_response
from mlship.api.served import ServedModel
from mlship.api.service import Service
from mlship.api.validation import InputError, decode

NUMERIC_DATATYPES = {
    "FP64", "FP32", "FP16", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"
}  # fmt: skip
OUTPUTS = ("predict", "predict_proba")


class ProtocolError(Exception):
    """A request that breaks the protocol or the model's signature."""


def _tensor(spec: Any, index: int) -> tuple[str, np.ndarray]:
    if type(spec) is not dict:
        raise ProtocolError(f"inputs[{index}] must be an object")
    name = spec.get("name")
    shape, datatype, data = spec.get("shape"), spec.get("datatype"), spec.get("data")
    if type(name) is not str or not name:
        raise ProtocolError(f"inputs[{index}].name must be a non-empty string")
    if datatype not in NUMERIC_DATATYPES:
        raise ProtocolError(f"inputs[{index}] ({name}): datatype {datatype!r} is not numeric")
    if type(shape) is not list or not shape or not all(type(d) is int and d >= 0 for d in shape):
        raise ProtocolError(f"inputs[{index}] ({name}): shape must be a list of sizes")
    flat = np.ravel(np.array(data, dtype=object)) if type(data) is list else None
    if flat is None or not all(type(value) in (int, float) for value in flat.tolist()):
        raise ProtocolError(f"inputs[{index}] ({name}): data must be an array of numbers")
    values = flat.astype(np.float64)
    if values.size != int(np.prod(shape)):
        raise ProtocolError(
            f"inputs[{index}] ({name}): {values.size} values do not fill shape {shape}"
        )
    if not np.isfinite(values).all():
        raise ProtocolError(f"inputs[{index}] ({name}): values must be finite numbers")
    return name, values.reshape(shape)


def rows_from(request: Any, model: ServedModel, max_rows: int) -> np.ndarray:
    if type(request) is not dict or type(request.get("inputs")) is not list:
        raise ProtocolError('the request must be an object with an "inputs" array')
    tensors = [_tensor(spec, index) for index, spec in enumerate(request["inputs"])]
    features = model.features
    if len(tensors) == 1 and tensors[0][1].ndim == 2 and tensors[0][1].shape[1] == len(features):
        rows = tensors[0][1]
    else:
        by_name = dict(tensors)
        missing = [name for name in features if name not in by_name]
        unknown = [name for name in by_name if name not in features]
        if missing or unknown:
            raise ProtocolError(
                f"expected one [N, {len(features)}] tensor or one tensor per feature "
                f"({', '.join(features)}); missing {missing}, unknown {unknown}"
            )
        columns = [by_name[name].reshape(-1) for name in features]
        if len({len(column) for column in columns}) != 1:
            raise ProtocolError("the feature tensors have different lengths")
        rows = np.column_stack(columns)
    if len(rows) == 0:
        raise ProtocolError("the request holds no rows")
    if len(rows) > max_rows:
        raise ProtocolError(f"{len(rows)} rows exceed the limit of {max_rows} rows")
    return rows


def build_v2_router(service: Service) -> APIRouter:
    router = APIRouter(prefix="/v2", tags=["open inference protocol (v2)"])
    settings = service.settings

    def model_named(name: str) -> ServedModel:
        model = service.manager.current
        if model is None:
            raise ApiError(503, "no model loaded yet")
        if name != model.ref.name:
            raise ApiError(404, f"model {name!r} is not served here (serving {model.ref.name!r})")
        return model

    @router.get("", summary="Server metadata")
    async def server_metadata() -> Response:
        return json_response(
            {"name": "mlship-api", "version": version("mlship-api"), "extensions": []}
        )

    @router.get("/health/live", summary="Server live")
    async def server_live() -> Response:
        return json_response({"live": True})

    @router.get(
        "/health/ready",
        summary="Server ready (a model is loaded)",
        responses={503: {"description": "no model loaded yet"}},
    )
    async def server_ready() -> Response:
        ready = service.manager.current is not None
        return json_response({"ready": ready}, 200 if ready else 503)

    @router.get("/models/{name}", summary="Model metadata", responses=error_responses(404, 503))
    async def model_metadata(name: str) -> Response:
        model = model_named(name)
        return json_response(
            {
                "name": model.ref.name,
                "versions": [model.ref.version],
                "platform": "mlship-sklearn",
                "inputs": [
                    {"name": "input-0", "datatype": "FP64", "shape": [-1, len(model.features)]}
                ],
                "outputs": [
                    {"name": "predict", "datatype": "INT64", "shape": [-1]},
                    {
                        "name": "predict_proba",
                        "datatype": "FP64",
                        "shape": [-1, len(model.class_names)],
                    },
                ],
                "parameters": {
                    "features": list(model.features),
                    "class_names": list(model.class_names),
                },
            }
        )

    @router.get("/models/{name}/ready", summary="Model ready", responses=error_responses(404, 503))
    async def model_ready(name: str) -> Response:
        model_named(name)
        return json_response({"name": name, "ready": True})

    @router.post(
        "/models/{name}/infer",
        summary="Inference",
        responses=error_responses(400, 401, 403, 404, 413, 415, 429, 503),
        openapi_extra={"security": [{"APIKeyHeader": []}, {"HTTPBearer": []}, {}]},
    )
    async def infer(name: str, request: Request) -> Response:
        call = Call.from_request(request)
        service.admit(call)
        model = model_named(name)
        body = await call.json_body(settings.max_body_bytes)
        try:
            payload = decode(body)
            rows = rows_from(payload, model, settings.max_batch_rows)
        except (ProtocolError, InputError) as error:
            message = error.msg if isinstance(error, InputError) else str(error)
            return json_response({"error": message}, 400)
        requested = payload.get("outputs") or []
        wanted = [output.get("name") for output in requested if type(output) is dict]
        unknown = [name for name in wanted if name not in OUTPUTS]
        if unknown:
            message = f"unknown outputs {unknown}; this model has {list(OUTPUTS)}"
            return json_response({"error": message}, 400)
        probabilities = model.infer(rows, "v2")
        outputs = []
        if not wanted or "predict" in wanted:
            outputs.append(
                {
                    "name": "predict",
                    "datatype": "INT64",
                    "shape": [len(rows)],
                    "data": probabilities.argmax(axis=1),
                }
            )
        if not wanted or "predict_proba" in wanted:
            outputs.append(
                {
                    "name": "predict_proba",
                    "datatype": "FP64",
                    "shape": list(probabilities.shape),
                    "data": probabilities.ravel(),
                }
            )
        response: dict[str, Any] = {
            "model_name": model.ref.name,
            "model_version": model.ref.version,
            "outputs": outputs,
        }
        if type(payload.get("id")) is str:
            response["id"] = payload["id"]
        return json_response(response)

    return router
