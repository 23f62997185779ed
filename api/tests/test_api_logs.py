"""JSON log lines carry the request ID; feature values and keys stay out of them."""

from __future__ import annotations

import json
import logging

import pytest

from mlship.api.logs import JsonFormatter

from .conftest import ClientFactory

pytestmark = pytest.mark.unit


def test_refused_request_is_logged_as_json_with_its_request_id(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(access_log=True, keys="secret-key")
    caplog.set_level(logging.DEBUG, logger="mlship")
    response = client.post(
        "/predict",
        json={"features": [5.123456789, "x", 1.4, 0.2]},
        headers={"X-Request-ID": "req-42", "X-API-Key": "secret-key"},
    )
    assert response.status_code == 422
    assert response.headers["x-request-id"] == "req-42"
    formatter = JsonFormatter()
    lines = [json.loads(formatter.format(record)) for record in caplog.records]
    access = [line for line in lines if line["logger"] == "mlship.api.access"]
    assert access, lines
    assert access[-1]["request_id"] == "req-42"
    assert access[-1]["status"] == 422
    assert access[-1]["route"] == "/predict"
    assert access[-1]["level"] == "info"
    text = "\n".join(formatter.format(record) for record in caplog.records)
    assert "5.123456789" not in text
    assert "secret-key" not in text


def test_successful_requests_log_at_debug_only(
    client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(access_log=True)
    caplog.set_level(logging.INFO, logger="mlship")
    assert client.get("/health/live").status_code == 200
    logged = [r for r in caplog.records if r.name == "mlship.api.access"]
    assert not [r for r in logged if r.__dict__.get("path") == "/health/live"]
