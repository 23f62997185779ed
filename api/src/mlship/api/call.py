"""What an endpoint needs from a request, without Starlette's ``Request`` and ``Response``.

The prediction endpoints are served straight from the ASGI scope (see
``hotpath.py``) and, for FastAPI's routing, from a Starlette request; ``Call``
gives both the same view: lower-case headers, path parameters, the body
channel and the client's address. ``send_json`` writes a JSON response (or a
``RawBody``: binary tensor data) to a raw ASGI ``send``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import orjson
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from mlship.api.responses import JSON_OPTIONS, ApiError

JSON_CONTENT_TYPE = (b"content-type", b"application/json")
# The Open Inference Protocol's clients send JSON untyped (tritonclient's sync client) or
# as application/octet-stream (its asyncio client; the binary tensor data extension).
V2_MEDIA_TYPES = frozenset({"", "application/octet-stream"})


class RawBody(NamedTuple):
    """A response body that is not JSON, with its headers (content type included)."""

    body: bytes
    headers: dict[str, str]


class Call:
    """Lower-case header names to values, path parameters, the body channel, the client.

    ``tail`` holds what follows a V2 request's JSON (binary tensor data, ``v2_binary``).
    """

    __slots__ = ("client", "headers", "params", "receive", "tail")

    def __init__(
        self,
        headers: Mapping[str, str],
        receive: Receive,
        client: str | None,
        params: Mapping[str, str] | None = None,
    ) -> None:
        self.headers, self.receive, self.client = headers, receive, client
        self.params = params or {}
        self.tail: memoryview | None = None

    @classmethod
    def from_scope(
        cls, scope: Scope, receive: Receive, params: Mapping[str, str] | None = None
    ) -> Call:
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1")
            if key not in headers:  # the first of repeated headers wins, as in Starlette
                headers[key] = value.decode("latin-1")
        client = scope.get("client")
        return cls(headers, receive, client[0] if client else None, params)

    @classmethod
    def from_request(cls, request: Request) -> Call:
        client = request.client
        host = client.host if client else None
        return cls(request.headers, request.receive, host, request.path_params)

    async def json_body(self, max_bytes: int, v2: bool = False) -> bytes:
        """The body of a JSON request, refusing other content types (415) and big bodies (413).

        ``v2``: also untyped or ``application/octet-stream`` (``V2_MEDIA_TYPES``).
        """
        content_type = self.headers.get("content-type", "")
        if content_type != "application/json":
            media_type = content_type.split(";", 1)[0].strip().lower()
            if not (
                media_type == "application/json"
                or media_type.endswith("+json")
                or (v2 and media_type in V2_MEDIA_TYPES)
            ):
                expected = "application/json" + (" or application/octet-stream" if v2 else "")
                raise ApiError(
                    415, f"content type must be {expected}, got {content_type or 'none'}"
                )
        too_large = f"request body exceeds the limit of {max_bytes} bytes"
        declared = self.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise ApiError(413, too_large)
        parts: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ApiError(400, "client disconnected before sending the body")
            part = message.get("body", b"")
            size += len(part)
            if size > max_bytes:
                raise ApiError(413, too_large)
            parts.append(part)
            more = message.get("more_body", False)
        return parts[0] if len(parts) == 1 else b"".join(parts)


async def send_json(
    send: Send,
    content: Any,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    raw_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Serialise ``content`` with orjson and send it as a complete response.

    ``headers`` are the response's own (``Retry-After``...), ``raw_headers``
    pre-encoded ones added to every response of the route.
    """
    if type(content) is RawBody:
        body = content.body
        encoded = [(name.encode(), value.encode()) for name, value in content.headers.items()]
    else:
        body = orjson.dumps(content, option=JSON_OPTIONS)
        encoded = [JSON_CONTENT_TYPE]
    encoded.append((b"content-length", str(len(body)).encode()))
    if raw_headers:
        encoded += raw_headers
    if headers:
        encoded += [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in headers.items()
        ]
    await send({"type": "http.response.start", "status": status, "headers": encoded})
    await send({"type": "http.response.body", "body": body})
