"""The Open Inference Protocol's binary tensor data extension: raw tensor bytes after the JSON.

A request whose ``Inference-Header-Content-Length`` header is N carries its JSON in
the body's first N bytes; the rest is, in input order, the little-endian bytes of
each input that gives ``parameters.binary_data_size`` instead of ``data``
(``validation.py`` checks those values by the same rules as JSON ones). Outputs go
the same way when the request asks for them as binary data: the JSON, whose
outputs carry ``parameters.binary_data_size`` instead of ``data``, then their bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from mlship.api.call import RawBody
from mlship.api.responses import JSON_OPTIONS, ApiError
from mlship.api.validation import InputError

if TYPE_CHECKING:
    from mlship.api.call import Call

HEADER = "inference-header-content-length"


async def read(call: Call, max_bytes: int) -> bytes:
    """A V2 request's JSON; the binary tensor data after it is kept as ``call.tail``."""
    body = await call.json_body(max_bytes, v2=True)
    declared = call.headers.get(HEADER)
    if declared is None:
        return body
    try:
        size = int(declared)
    except ValueError:
        size = -1
    if not 0 <= size <= len(body):
        message = f"must be the JSON's length in bytes, at most the body's {len(body)}"
        raise ApiError(400, f"Inference-Header-Content-Length: {message}, got {declared!r}")
    call.tail = memoryview(body)[size:]
    return body[:size]


def input_chunks(payload: Any, tail: memoryview) -> list[memoryview | None]:
    """Each input's binary data in input order (None for an input given as JSON ``data``)."""
    inputs = payload.get("inputs") if type(payload) is dict else None
    if type(inputs) is not list:
        return []  # validation names what is wrong
    chunks: list[memoryview | None] = []
    offset = 0
    for index, spec in enumerate(inputs):
        parameters = spec.get("parameters") if type(spec) is dict else None
        size = parameters.get("binary_data_size") if type(parameters) is dict else None
        if size is None:
            chunks.append(None)
            continue
        left = len(tail) - offset
        if type(size) is not int or not 0 <= size <= left:
            message = (
                f"must be a byte count within the {left} bytes of binary data left, got {size!r}"
            )
            raise InputError(("inputs", index, "parameters", "binary_data_size"), message, "binary")
        chunks.append(tail[offset : offset + size])
        offset += size
    if offset != len(tail):
        message = f"{len(tail) - offset} bytes after the JSON belong to no input's binary_data_size"
        raise InputError(("inputs",), message, "binary")
    return chunks


def framed(response: Any, blobs: list[bytes]) -> RawBody:
    """``response`` as JSON followed by its outputs' binary data."""
    header = orjson.dumps(response, option=JSON_OPTIONS)
    headers = {"content-type": "application/octet-stream", HEADER: str(len(header))}
    return RawBody(b"".join((header, *blobs)), headers)
