"""Fast JSON responses and the errors the endpoints raise."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


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


def error_responses(*codes: int, schema: dict[str, Any] | None = None) -> dict[int | str, Any]:
    """OpenAPI ``responses`` for the error statuses ``codes`` (``{"detail": ...}`` bodies)."""
    declared: dict[int | str, Any] = {}
    for code in codes:
        body = V2_ERROR_SCHEMA if code == 400 else (schema or ERROR_SCHEMA)
        declared[code] = {
            "description": ERROR_MEANINGS[code],
            "content": {"application/json": {"schema": body}},
        }
        if code in (429, 503):
            declared[code]["headers"] = RETRY_AFTER
    return declared


class ApiError(Exception):
    """An expected failure with its HTTP status; rendered as ``{"detail": ...}``."""

    def __init__(
        self, status_code: int, detail: Any, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(str(detail))
        self.status_code, self.detail, self.headers = status_code, detail, headers


async def api_error_handler(request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)  # noqa: S101 (registered for ApiError only)
    return json_response({"detail": error.detail}, error.status_code, error.headers)
