"""Security headers, CORS (off unless configured) and key rotation through the keys file."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import socket
import time
from collections.abc import MutableMapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from mlship.api.app import create_app
from mlship.api.call import Call
from mlship.api.hotpath import ServiceApp
from mlship.api.metrics import Metrics
from mlship.api.middleware import RequestObserver
from mlship.api.security import SecurityHeaders
from mlship.api.settings import Settings

from .conftest import ClientFactory

pytestmark = pytest.mark.unit
SEED = {"features": [5.1, 3.5, 1.4, 0.2]}
HARDENING = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def test_every_response_carries_the_hardening_headers(client_for: ClientFactory) -> None:
    client = client_for(keys="k")
    responses = [
        client.post("/predict", json=SEED, headers={"X-API-Key": "k"}),  # fast path
        client.post("/predict", json=SEED),  # 401
        client.post("/predict", content=b"x", headers={"X-API-Key": "k"}),  # 415
        client.get("/health/ready"),
        client.get("/metrics"),
        client.get("/nowhere"),  # 404 from the router
        client.get("/v2/models/model"),
    ]
    for response in responses:
        for name, value in HARDENING.items():
            assert response.headers[name] == value, (response.url, name)
        assert response.headers["cache-control"] == "no-store", response.url
        assert "default-src 'none'" in response.headers["content-security-policy"]


def test_docs_policy_allows_only_its_own_assets_and_inline_script(
    client_for: ClientFactory,
) -> None:
    client = client_for()
    page = client.get("/docs")
    policy = page.headers["content-security-policy"]
    assert policy.count("default-src") == 1  # one policy, not the JSON one added on top
    assert "frame-ancestors 'none'" in policy
    assert "https:" not in policy
    inline = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
    assert inline
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    asset = client.get("/static/swagger-ui/swagger-ui-bundle.js")
    assert asset.status_code == 200
    assert "cache-control" not in asset.headers or "no-store" not in asset.headers["cache-control"]
    assert asset.headers["x-content-type-options"] == "nosniff"


def test_cors_is_off_by_default(client_for: ClientFactory) -> None:
    client = client_for()
    origin = {"Origin": "https://evil.example"}
    assert (
        "access-control-allow-origin"
        not in client.post("/predict", json=SEED, headers=origin).headers
    )
    preflight = client.options(
        "/predict", headers={**origin, "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_allow_list(client_for: ClientFactory) -> None:
    client = client_for(cors_allow_origins="https://app.example")
    allowed = client.options(
        "/predict",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key,content-type",
        },
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert allowed.headers["x-frame-options"] == "DENY"
    simple = client.post("/predict", json=SEED, headers={"Origin": "https://app.example"})
    assert simple.headers["access-control-allow-origin"] == "https://app.example"
    other = client.post("/predict", json=SEED, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_keys_file_rotation_without_restart(client_for: ClientFactory, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("old\n")
    client: TestClient = client_for(keys_file=keys, keys_refresh_seconds=0.2)

    def status(key: str) -> int:
        code: int = client.post("/predict", json=SEED, headers={"X-API-Key": key}).status_code
        return code

    assert (status("old"), status("new")) == (200, 403)
    keys.write_text("old\nnew\n")  # both valid while clients switch
    time.sleep(0.3)
    assert (status("old"), status("new")) == (200, 200)
    keys.write_text("# retired: old\nnew\n")
    time.sleep(0.3)
    assert (status("old"), status("new")) == (403, 200)
    keys.write_text("")  # an emptied file never opens nor locks the service
    time.sleep(0.3)
    assert (status("old"), status("new")) == (403, 200)
    assert client.post("/predict", json=SEED).status_code == 401


def http_counts(client: TestClient) -> dict[tuple[str, str, str], float]:
    """``mlship_http_requests_total`` by (route, method, status class)."""
    return {
        (s.labels["route"], s.labels["method"], s.labels["status_class"]): s.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for s in family.samples
        if s.name == "mlship_http_requests_total"
    }


def assert_refusal(response: Any, status: int, needle: str) -> None:
    """A refusal: its status, a JSON body naming the problem, the request ID, the headers."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert needle in response.text
    assert len(response.headers["x-request-id"]) == 32
    for name, value in HARDENING.items():
        assert response.headers[name] == value


MALFORMED = {
    "lone surrogate key": ("/predict", b'{"\\ud800": 1}', 422, "invalid Unicode escape"),
    "lone surrogate name": ("/predict", b'{"features": {"\\udc00": 1}}', 422, "invalid Unicode"),
    "repeated key": ("/predict", b'{"features": [1, 2, 3, 4], "features": [4]}', 422, "once"),
    "not UTF-8": ("/predict/batch", b'{"instances": ["\xff"]}', 422, "not valid UTF-8"),
    "v2 id": ("/v2/models/model/infer", b'{"id": "\\ud800", "inputs": []}', 400, "body.id"),
    "v2 name": (
        "/v2/models/model/infer",
        b'{"inputs": [{"name": "\\udfff", "shape": [1, 4], "datatype": "FP64", "data": [1]}]}',
        400,
        "body.inputs.0.name",
    ),
    "too large a value": ("/predict", b'{"features": [1, 2, 3, 1e300]}', 422, "within"),
}


@pytest.mark.parametrize("case", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_text_is_refused_as_json_on_both_paths_and_counted_as_4xx(
    client_for: ClientFactory, case: tuple[str, bytes, int, str]
) -> None:
    path, body, status, needle = case
    client = client_for(cors_allow_origins="http://ui.example")
    route = "/v2/models/{name}/infer" if path.startswith("/v2") else path
    for origin in ({}, {"Origin": "http://ui.example"}):  # the dispatch, then FastAPI's routing
        headers = {"Content-Type": "application/json", **origin}
        assert_refusal(client.post(path, content=body, headers=headers), status, needle)
    counts = http_counts(client)
    assert counts[(route, "POST", "4xx")] == 2
    assert (route, "POST", "5xx") not in counts


@pytest.mark.parametrize("path", ["/predict", "/health/live", "/v2/health/ready", "/nowhere"])
def test_too_many_or_too_large_headers_get_a_431(client_for: ClientFactory, path: str) -> None:
    client = client_for(max_headers=20, max_header_bytes=2048)
    method = client.post if path == "/predict" else client.get
    many = {f"x-extra-{index}": "1" for index in range(25)}
    assert_refusal(method(path, headers=many), 431, "API_MAX_HEADERS")
    assert_refusal(method(path, headers={"x-big": "a" * 3000}), 431, "API_MAX_HEADER_BYTES")
    assert method(path, headers={"x-big": "a" * 1000}).status_code != 431
    # Refused before routing: a prediction route is still named, any other path is not.
    key = ("/predict", "POST", "4xx") if path == "/predict" else ("unmatched", "GET", "4xx")
    assert http_counts(client)[key] >= 2


def test_metric_labels_come_only_from_known_methods_routes_and_statuses(
    client: TestClient,
) -> None:
    for method in ("PROPFIND", "FOO", "BREW", "get"):
        client.request(method, "/predict")
        client.request(method, f"/{method.lower()}/anything")
    client.post("/predict/", json=SEED)  # no redirect, no new route
    for route, method, status_class in http_counts(client):
        assert route in {"/predict", "/metrics", "/health/ready", "unmatched"}, route
        assert method in {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
        assert status_class in {"1xx", "2xx", "3xx", "4xx", "5xx"}


def scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 5555),
        "server": ("127.0.0.1", 8000),
    }  # fmt: skip


@pytest.mark.parametrize("origin", [False, True], ids=["dispatch", "fastapi"])
def test_a_body_that_stops_arriving_gets_a_408_and_the_connection_closes(
    model_dir: Path, origin: bool
) -> None:
    settings = Settings(
        model_uri=str(model_dir),
        access_log=False,
        body_timeout_s=0.3,
        cors_allow_origins=("http://o",),
    )
    app = create_app(settings)
    with TestClient(app):  # runs the lifespan: the model loads
        pass
    headers = [(b"content-type", b"application/json"), (b"content-length", b"100")]
    if origin:
        headers.append((b"origin", b"http://o"))
    parts = [{"type": "http.request", "body": b'{"features": [', "more_body": True}]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if parts:
            return parts.pop()
        await asyncio.Event().wait()  # the rest never comes
        raise AssertionError("unreachable")

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    async def call() -> float:
        started = time.monotonic()
        await asyncio.wait_for(app(scope("/predict", headers), receive, send), timeout=10)
        return time.monotonic() - started

    elapsed = asyncio.run(call())
    assert 0.3 <= elapsed < 3
    start, body = sent
    assert start["status"] == 408
    names = dict(start["headers"])
    assert names[b"connection"] == b"close"
    assert names[b"x-content-type-options"] == b"nosniff"
    assert len(names[b"x-request-id"]) == 32
    assert b"API_BODY_TIMEOUT_S" in body["body"]


def exchange(port: int, request: bytes, wait: float = 10) -> tuple[bytes, bool]:
    """Send ``request`` raw; the answer, and whether the server then closed the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        try:
            closed = sock.recv(65536) == b""  # the body (one segment), or the close
            closed = closed or sock.recv(65536) == b""
        except TimeoutError:
            closed = False
    return answer, closed


@pytest.mark.integration
def test_limits_on_the_wire_of_a_real_server(model_dir: Path, tmp_path: Path) -> None:
    from tests.integration.api_process import api_process  # noqa: PLC0415 (integration only)

    limits = {"API_MAX_HEADERS": "20", "API_BODY_TIMEOUT_S": "1", "API_ACCESS_LOG": "false"}
    with api_process(tmp_path, API_MODEL_URI=str(model_dir), **limits) as api:
        api.wait_for("/health/ready", 200, timeout=120)
        start = b"POST /predict HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
        started = time.monotonic()
        late, closed = exchange(api.port, start + b"Content-Length: 100\r\n\r\n{")
        assert late.startswith(b"HTTP/1.1 408"), late
        assert 1 <= time.monotonic() - started < 5
        assert b"x-request-id: " in late
        assert closed
        many = b"".join(b"X-%d: 1\r\n" % index for index in range(25))
        crowded, _ = exchange(api.port, start + many + b"Content-Length: 2\r\n\r\n{}")
        assert crowded.startswith(b"HTTP/1.1 431")
        assert b"x-request-id: " in crowded
        # Malformed HTTP never reaches the app: uvicorn answers it (documented in the README).
        garbage, closed = exchange(api.port, b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
        assert garbage.startswith(b"HTTP/1.1 400")
        assert closed


def test_an_answer_that_cannot_be_encoded_is_a_json_500_counted_as_such(model_dir: Path) -> None:
    """The dispatch's last line: no plain-text 500 without a request ID, no 4xx in the metrics."""
    app = ServiceApp()
    app.state.service = SimpleNamespace(settings=Settings(model_uri=str(model_dir)))
    metrics = Metrics()

    async def unencodable(call: Call) -> Any:
        return {"text": "\ud800"}

    app.dispatch({"/bad": unencodable}, RequestObserver(metrics, False), SecurityHeaders())
    answer = TestClient(app).post("/bad")
    assert_refusal(answer, 500, "internal server error")
    assert metrics.http_requests.values == {("/bad", "POST", "5xx"): 1.0}


def test_an_unexpected_error_on_a_fastapi_route_is_a_json_500_without_its_text(
    model_dir: Path,
) -> None:
    app = create_app(Settings(model_uri=str(model_dir), access_log=False))

    async def broken() -> None:
        raise RuntimeError("a detail only the log may show")

    app.add_api_route("/broken", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/broken")
        assert_refusal(answer, 500, "internal server error")
        assert "a detail" not in answer.text
        assert client.get("/health/live").status_code == 200  # the service stays up
