"""Security of a real ``mlship-api`` process serving a registered model.

Rate limiting per key with 429 + Retry-After, the hardening headers on the wire,
CORS closed by default, and key rotation through the keys file with no restart
(old and new keys valid together, then the old one retired).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.api_process import ApiProcess, api_process
from tests.support.components import wait_until
from tests.support.mlflow_server import MlflowServer
from tests.support.models import register_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SEED = {"features": [5.1, 3.5, 1.4, 0.2]}
BURST = 5


@pytest.fixture(scope="module")
def secured(
    mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ApiProcess, Path]]:
    workdir = tmp_path_factory.mktemp("api-security")
    name = f"SecuredApi_{workdir.name[-6:]}"
    register_model(mlflow_server.uri, name)
    keys = workdir / "keys"
    keys.write_text("first-key\nsecond-key\n")
    with api_process(
        workdir,
        API_MODEL_URI=f"models:/{name}@production",
        API_TRACKING_URI=mlflow_server.uri,
        API_KEYS_FILE=str(keys),
        API_KEYS_REFRESH_SECONDS="0.5",
        # A refill so slow that the burst is all a key gets during the test.
        API_RATE_LIMIT_PER_SECOND="0.001",
        API_RATE_LIMIT_BURST=str(BURST),
    ) as api:
        api.wait_for("/health/ready", 200, timeout=120)
        yield api, keys


def test_rate_limit_per_key(secured: tuple[ApiProcess, Path]) -> None:
    api, _ = secured
    with api.client() as client:
        first = {"X-API-Key": "first-key"}
        statuses = [client.post("/predict", json=SEED, headers=first).status_code for _ in range(8)]
        assert statuses == [200] * BURST + [429] * 3
        refused = client.post("/predict", json=SEED, headers=first)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert "rate limit" in refused.json()["detail"]
        assert refused.headers["x-content-type-options"] == "nosniff"
        second = client.post("/predict", json=SEED, headers={"Authorization": "Bearer second-key"})
        assert second.status_code == 200
        assert client.get("/health/ready").status_code == 200  # probes are never limited
        metrics = client.get("/metrics").text
    assert (
        'mlship_http_requests_total{method="POST",route="/predict",status_class="4xx"}' in metrics
    )


def test_headers_and_cors_on_the_wire(secured: tuple[ApiProcess, Path]) -> None:
    api, _ = secured
    with api.client() as client:
        response = client.get("/model", headers={"Origin": "https://evil.example"})
        docs = client.get("/docs")
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert "access-control-allow-origin" not in response.headers
    assert "script-src 'self' 'sha256-" in docs.headers["content-security-policy"]


def test_key_rotation_without_restart(secured: tuple[ApiProcess, Path]) -> None:
    api, keys = secured
    assert api.process is not None
    pid = api.process.pid

    def admin_status(key: str) -> int:
        # /admin/reload always needs a valid key and is not rate limited.
        with api.client() as client:
            return client.post("/admin/reload", headers={"X-API-Key": key}).status_code

    assert admin_status("third-key") == 403
    keys.write_text("second-key\nthird-key\n")  # first retired, third added, second kept
    wait_until(lambda: admin_status("third-key") == 200, timeout=10, what="the new key accepted")
    assert admin_status("first-key") == 403
    assert admin_status("second-key") == 200
    assert api.process.pid == pid
    assert api.process.poll() is None
