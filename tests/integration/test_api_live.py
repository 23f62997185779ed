"""The API as a real uvicorn process against a real PostgreSQL-backed MLflow server.

One process serves the module's tests, in order: it starts before the model
exists (live, not ready), becomes ready when the alias appears, serves
predictions equal to the model's own, refuses bad input, enforces keys,
hot-swaps under load and keeps serving when a broken version is promoted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import mlflow
import mlflow.sklearn
import numpy as np
import pytest

from mlship.api.source import LocalSource
from tests.integration.api_process import ApiProcess, api_process
from tests.support.components import missing, venv_bin, wait_until
from tests.support.mlflow_server import MlflowServer
from tests.support.models import FEATURES, iris, register_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]
KEY = "integration-key"
AUTH = {"X-API-Key": KEY}
SEED = {"features": [5.1, 3.5, 1.4, 0.2]}


@dataclass
class Live:
    api: ApiProcess
    tracking_uri: str
    name: str
    startup_ready_status: int
    startup_live_status: int


@pytest.fixture(scope="module")
def live(mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    name = f"LiveApi_{tmp_path_factory.getbasetemp().name[-6:]}_{id(mlflow_server) % 10_000}"
    with api_process(
        tmp_path_factory.mktemp("api"),
        API_MODEL_URI=f"models:/{name}@production",
        API_TRACKING_URI=mlflow_server.uri,
        API_KEYS=KEY,
        API_RELOAD_INTERVAL_SECONDS="0.5",
    ) as api:
        live_status = httpx.get(f"{api.url}/health/live").status_code
        ready_status = httpx.get(f"{api.url}/health/ready").status_code
        register_model(mlflow_server.uri, name)
        api.wait_for("/health/ready", 200, timeout=120)
        yield Live(api, mlflow_server.uri, name, ready_status, live_status)


def served_version(live: Live) -> str:
    version: str = httpx.get(f"{live.api.url}/model").json()["version"]
    return version


def test_live_but_not_ready_until_the_alias_appears(live: Live) -> None:
    assert live.startup_live_status == 200
    assert live.startup_ready_status == 503
    ready = httpx.get(f"{live.api.url}/health/ready").json()
    assert ready["status"] == "ready"
    assert ready["registry"]["reachable"] is True


def test_predictions_equal_the_models_own(live: Live) -> None:
    version = served_version(live)
    mlflow.set_tracking_uri(live.tracking_uri)
    model = mlflow.sklearn.load_model(f"models:/{live.name}/{version}")
    features, _, class_names = iris()
    expected = model.predict_proba(features)
    with live.api.client(headers=AUTH) as client:
        batch = client.post("/predict/batch", json={"instances": features.tolist()})
        assert batch.status_code == 200, batch.text
        got = [[p["probabilities"][c] for c in class_names] for p in batch.json()["predictions"]]
        np.testing.assert_allclose(got, expected, rtol=1e-12)
        for row, probabilities in zip(features[::25], expected[::25], strict=True):
            single = client.post("/predict", json={"features": row.tolist()}).json()
            assert single["class_index"] == int(probabilities.argmax())
            assert single["model_version"] == version
            named = client.post("/predict", json=dict(zip(FEATURES, row.tolist(), strict=True)))
            assert named.json()["probabilities"] == single["probabilities"]


def test_bad_input_over_http(live: Live) -> None:
    cases = [
        (b'{"features": [1, NaN, 3, 4]}', "application/json", 422),
        (b'{"features": [1, 2, 3]}', "application/json", 422),
        (b'{"features": [1, "2", 3, 4]}', "application/json", 422),
        (b"{", "application/json", 422),
        (b'{"features": [1, 2, 3, 4]}', "text/csv", 415),
        (b'{"features": [' + b"1.0," * 3_000_000 + b"1]}", "application/json", 413),
    ]
    with live.api.client(headers=AUTH) as client:
        for body, content_type, status in cases:
            response = client.post("/predict", content=body, headers={"content-type": content_type})
            assert response.status_code == status, (body[:40], response.text)
        too_many = {"instances": [SEED["features"]] * 10_001}
        assert client.post("/predict/batch", json=too_many).status_code == 413
        assert client.get("/health/ready").status_code == 200
        assert client.post("/predict", json=SEED).status_code == 200


def test_auth_matrix_over_http(live: Live) -> None:
    url = live.api.url
    assert httpx.post(f"{url}/predict", json=SEED).status_code == 401
    assert httpx.post(f"{url}/predict", json=SEED, headers={"X-API-Key": "nope"}).status_code == 403
    bearer = {"Authorization": f"Bearer {KEY}"}
    assert httpx.post(f"{url}/predict", json=SEED, headers=bearer).status_code == 200
    assert httpx.post(f"{url}/admin/reload").status_code == 401
    assert httpx.post(f"{url}/admin/reload", headers=bearer).json()["outcome"] == "unchanged"
    marked = {"features": [5.123456789, 3.5, 1.4, 0.2]}
    assert httpx.post(f"{url}/predict", json=marked, headers=bearer).status_code == 200
    bad = {"features": [5.987654321, "x", 1.4, 0.2]}
    assert httpx.post(f"{url}/predict", json=bad, headers=bearer).status_code == 422
    log = live.api.log.read_text()
    assert KEY not in log
    # Feature values are not logged, neither for predictions nor for rejected input.
    assert "5.123456789" not in log
    assert "5.987654321" not in log


def test_hot_reload_under_load_has_no_errors(live: Live) -> None:
    before = served_version(live)
    stop = threading.Event()
    statuses: Counter[int | str] = Counter()
    versions: Counter[str] = Counter()
    lock = threading.Lock()

    def hammer() -> None:
        with live.api.client(headers=AUTH) as client:
            while not stop.is_set():
                try:
                    response = client.post("/predict", json=SEED)
                except httpx.HTTPError as error:  # counted as a failure, not a dead thread
                    with lock:
                        statuses[f"{type(error).__name__}: {error}"] += 1
                    continue
                with lock:
                    statuses[response.status_code] += 1
                    if response.status_code == 200:
                        versions[response.json()["model_version"]] += 1

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        after = register_model(live.tracking_uri, live.name)
        log = live.api.log  # its tail is shown if a wait times out
        wait_until(lambda: served_version(live) == after, timeout=120, what="hot swap", log=log)
        wait_until(
            lambda: versions[after] >= 20, timeout=60, what="requests on the new model", log=log
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert set(statuses) == {200}, statuses
    assert versions[before] > 0
    assert versions[after] > 0
    metrics = httpx.get(f"{live.api.url}/metrics").text
    assert f'model_version="{after}"' in metrics
    assert f'mlship_model_info{{model_name="{live.name}",model_version="{before}"' in metrics


def test_failed_reload_keeps_the_old_model(live: Live) -> None:
    serving = served_version(live)
    broken = register_model(live.tracking_uri, live.name, degrade=True)

    def rejected() -> bool:
        return broken in httpx.get(f"{live.api.url}/model").json()["failed_versions"]

    wait_until(rejected, timeout=120, what="broken version rejected")
    assert served_version(live) == serving
    response = httpx.post(f"{live.api.url}/predict", json=SEED, headers=AUTH)
    assert response.json()["class_name"] == "setosa"
    metrics = httpx.get(f"{live.api.url}/metrics").text
    assert 'mlship_model_reloads_total{result="failed"} 1.0' in metrics


def test_docs_render_offline_in_headless_chromium(live: Live) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        missing("chromium", "apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=15000",
                "--dump-dom",
                f"{live.api.url}/docs",
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    dom = result.stdout
    assert "swagger-ui" in dom, result.stderr[-2000:]
    assert "/predict/batch" in dom, dom[-2000:]
    assert "mlship inference API" in dom


def test_registry_stopped_while_serving(
    private_mlflow_server: Callable[[], MlflowServer], tmp_path: Path
) -> None:
    server = private_mlflow_server()
    name = "StoppedRegistry"
    register_model(server.uri, name)
    with api_process(
        tmp_path / "api",
        API_MODEL_URI=f"models:/{name}@production",
        API_TRACKING_URI=server.uri,
        API_RELOAD_INTERVAL_SECONDS="0.5",
        API_REGISTRY_TIMEOUT_SECONDS="2",
    ) as api:
        api.wait_for("/health/ready", 200, timeout=120)
        server.stop()

        def reported_unreachable() -> bool:
            return httpx.get(f"{api.url}/health/ready").json()["registry"]["reachable"] is False

        wait_until(reported_unreachable, timeout=60, what="registry reported unreachable")
        ready = httpx.get(f"{api.url}/health/ready")
        assert ready.status_code == 200
        assert ready.json()["registry"]["unreachable_since"]
        assert httpx.get(f"{api.url}/model").json()["registry"]["reachable"] is False
        assert httpx.post(f"{api.url}/predict", json=SEED).json()["class_name"] == "setosa"
        assert "mlship_registry_reachable 0.0" in httpx.get(f"{api.url}/metrics").text
        server.start()

        def reachable_again() -> bool:
            return httpx.get(f"{api.url}/health/ready").json()["registry"]["reachable"] is True

        wait_until(reachable_again, timeout=60, what="registry reachable again")


def test_fetch_bakes_a_servable_model_directory(live: Live, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("API_", "MLFLOW_"))}
    env |= {
        "API_MODEL_URI": f"models:/{live.name}@production",
        "MLFLOW_TRACKING_URI": live.tracking_uri,
    }
    result = subprocess.run(
        [venv_bin("mlship-api"), "fetch", str(tmp_path / "baked")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    ref = LocalSource(tmp_path / "baked").resolve()
    production = mlflow.MlflowClient(live.tracking_uri).get_model_version_by_alias(
        live.name, "production"
    )
    assert (ref.name, ref.version) == (live.name, production.version)
    assert "production" in ref.aliases
    missing_model = subprocess.run(
        [venv_bin("mlship-api"), "fetch", str(tmp_path / "none")],
        env=env | {"API_MODEL_URI": "models:/NoSuchModel@production"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert missing_model.returncode != 0
    assert "NoSuchModel" in missing_model.stderr
    assert "Traceback" not in missing_model.stderr
