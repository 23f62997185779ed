"""Security headers, CORS (off unless configured) and key rotation through the keys file."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

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
