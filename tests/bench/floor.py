"""The floor of the benchmark: a bare ASGI app answering a constant JSON body.

Run by the same uvicorn, event loop, HTTP implementation and worker count as
the API, it measures what the machine's HTTP stack can do at best.
"""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

BODY = b'{"class_index":0,"class_name":"setosa","model_version":"1"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:  # read the request body, as a real endpoint does
        message: Message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
