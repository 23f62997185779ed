"""Per-caller token buckets on the prediction endpoints: 429 with Retry-After, per key."""

from __future__ import annotations

import pytest

from mlship.api.security import RateLimiter

from .conftest import ClientFactory

pytestmark = pytest.mark.unit
SEED = {"features": [5.1, 3.5, 1.4, 0.2]}
V2 = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}]}


def test_bucket_allows_the_burst_then_refills_at_the_rate() -> None:
    limiter = RateLimiter(rate=2.0, burst=3)
    assert [limiter.wait_seconds("a", now=100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.wait_seconds("a", now=100.0) == pytest.approx(0.5)
    assert limiter.wait_seconds("b", now=100.0) == 0.0  # another caller has its own bucket
    assert limiter.wait_seconds("a", now=100.5) == 0.0  # one token back after 1/rate seconds
    assert limiter.wait_seconds("a", now=100.5) > 0
    assert [limiter.wait_seconds("a", now=200.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.wait_seconds("a", now=200.0) > 0  # never more than the burst saved up


def test_bucket_table_stays_bounded() -> None:
    limiter = RateLimiter(rate=1000.0, burst=1)
    limiter.MAX_BUCKETS = 10
    for caller in range(50):
        limiter.wait_seconds(str(caller), now=float(caller))
    assert len(limiter._buckets) <= 10


def test_disabled_by_default(client_for: ClientFactory) -> None:
    client = client_for()
    assert all(client.post("/predict", json=SEED).status_code == 200 for _ in range(60))


def test_429_with_retry_after_per_key(client_for: ClientFactory) -> None:
    client = client_for(keys="alpha,beta", rate_limit_per_second=0.01, rate_limit_burst=2)
    alpha, beta = {"X-API-Key": "alpha"}, {"Authorization": "Bearer beta"}
    assert [client.post("/predict", json=SEED, headers=alpha).status_code for _ in range(2)] == [
        200,
        200,
    ]
    refused = client.post("/predict/batch", json={"instances": [SEED["features"]]}, headers=alpha)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert "rate limit" in refused.json()["detail"]
    assert refused.headers["content-type"] == "application/json"
    assert client.post("/v2/models/model/infer", json=V2, headers=alpha).status_code == 429
    # The other key has its own bucket; unauthenticated calls are refused before counting.
    assert client.post("/v2/models/model/infer", json=V2, headers=beta).status_code == 200
    assert client.post("/predict", json=SEED).status_code == 401
    # Health, model and metrics endpoints are never limited.
    assert client.get("/health/ready").status_code == 200
    assert client.get("/model").status_code == 200


def test_limit_by_client_address_without_keys(client_for: ClientFactory) -> None:
    client = client_for(rate_limit_per_second=0.01, rate_limit_burst=1)
    assert client.post("/predict", json=SEED).status_code == 200
    assert client.post("/predict", json=SEED).status_code == 429


def test_429_is_declared_in_the_schema(client_for: ClientFactory) -> None:
    paths = client_for().get("/openapi.json").json()["paths"]
    for path in ("/predict", "/predict/batch", "/v2/models/{name}/infer"):
        declared = paths[path]["post"]["responses"]["429"]
        assert "Retry-After" in declared["headers"]
        assert "application/json" in declared["content"]
