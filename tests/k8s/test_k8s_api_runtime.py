"""The API container of the dev overlay, run for real.

The image's entrypoint (platform/api/entrypoint.sh) runs with the rendered
environment (ConfigMap, API keys from the Secret) against the session's
tracking server and a registered model: the probes the manifest declares
answer, the keys of the Secret open the predict endpoint, the metrics land in
the volume the manifest mounts, and SIGTERM ends the process well within the
termination grace period.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.k8s.manifests import MODELS, REPO_ROOT, Manifest, main_container, pod_spec
from tests.k8s.pod_runtime import Mounts, PodFacts, container_environment, map_mounts
from tests.support import processes
from tests.support.components import free_port, wait_until
from tests.support.mlflow_server import MlflowServer
from tests.support.models import register_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ENTRYPOINT = REPO_ROOT / "platform" / "api" / "entrypoint.sh"
# The Iris model's API: ROW below is an Iris row.
IRIS_API = dict(MODELS)["IrisClassifier"]
ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


@dataclass
class ApiPod:
    base: str
    keys: tuple[str, ...]
    container: Manifest
    grace_seconds: int
    mounts: Mounts
    process: subprocess.Popen[bytes]
    log: Path


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def api_pod(
    rendered: dict[str, list[Manifest]],
    mlflow_server: MlflowServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ApiPod]:
    model = f"K8sModel_{uuid.uuid4().hex[:8]}"
    register_model(mlflow_server.uri, model)
    manifests = rendered["dev"]
    container = main_container(manifests, IRIS_API)
    keys = (secrets.token_hex(16), secrets.token_hex(16))
    # The session's tracking server is open: the reader identity is passed and not needed
    # (tests/containers and test_k8s_mlflow_runtime.py log in for real).
    reader = {
        ("mlship-mlflow-auth", "reader-username"): "reader",
        ("mlship-mlflow-auth", "reader-password"): secrets.token_hex(16),
    }
    facts = PodFacts(secrets={("mlship-api-keys", "api-keys"): ",".join(keys), **reader}, fields={})
    environment = container_environment(manifests, container, facts)
    root = tmp_path_factory.mktemp("k8s-api")
    mounts = map_mounts(environment, container, root)
    # Loopback on a free port, the tracking server's local address instead of the
    # Service name, and this test's model: everything else as rendered.
    rendered_values = {
        "API_HOST": "0.0.0.0",  # noqa: S104
        "API_PORT": "8000",
        "API_TRACKING_URI": "http://mlflow:5000",
        "API_MODEL_URI": "models:/IrisClassifier@production",
    }
    assert {name: environment[name] for name in rendered_values} == rendered_values
    port = free_port()
    environment |= {
        "API_HOST": "127.0.0.1",
        "API_PORT": str(port),
        "API_TRACKING_URI": mlflow_server.uri,
        "API_MODEL_URI": f"models:/{model}@production",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    log = root / "api.log"
    process = processes.spawn(["sh", str(ENTRYPOINT)], log, env=environment)
    base = f"http://127.0.0.1:{port}"
    ready = container["readinessProbe"]["httpGet"]["path"]
    try:
        wait_until(
            lambda: httpx.get(f"{base}{ready}", timeout=5).status_code == 200,
            timeout=180,
            what="the API from the dev manifests",
            log=log,
        )
        grace = pod_spec(manifests, IRIS_API)["terminationGracePeriodSeconds"]
        yield ApiPod(base, keys, container, grace, mounts, process, log)
    finally:
        stop(process)


def test_declared_probes_answer(api_pod: ApiPod) -> None:
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        path = api_pod.container[probe]["httpGet"]["path"]
        assert httpx.get(f"{api_pod.base}{path}", timeout=5).status_code == 200, probe


def test_keys_of_the_secret_open_predict(api_pod: ApiPod) -> None:
    url = f"{api_pod.base}/predict"
    assert httpx.post(url, json=ROW, timeout=10).status_code == 401
    for key in api_pod.keys:
        response = httpx.post(url, json=ROW, headers={"X-API-Key": key}, timeout=10)
        assert response.status_code == 200, response.text


def test_metrics_are_kept_in_the_mounted_volume(api_pod: ApiPod) -> None:
    response = httpx.get(f"{api_pod.base}/metrics", timeout=10)
    assert response.status_code == 200
    assert "mlship_http_requests_total" in response.text
    volume = api_pod.mounts.local["/var/run/mlship"]
    assert list((volume / "metrics").glob("*.db")), "no multiprocess files in the volume"
    api_pod.mounts.assert_intact()


def test_sigterm_ends_the_process_within_the_grace_period(api_pod: ApiPod) -> None:
    pause = api_pod.container["lifecycle"]["preStop"]["sleep"]["seconds"]
    started = time.monotonic()
    # The kubelet signals the container's main process (the entrypoint execs the API).
    os.kill(api_pod.process.pid, signal.SIGTERM)
    code = api_pod.process.wait(timeout=api_pod.grace_seconds - pause)
    # uvicorn shuts down gracefully, then re-raises the signal: -SIGTERM (143 in a pod).
    assert code in {0, -signal.SIGTERM}, f"exit code {code} after SIGTERM"
    assert time.monotonic() - started < api_pod.grace_seconds - pause
    assert "Application shutdown complete" in api_pod.log.read_text()
