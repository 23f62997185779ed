"""The images under platform/: lint-clean, non-root, health-checked, and each one
doing its job when started the way CI and the compose files start it."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.containers.docker_engine import REPOSITORY_ROOT, ProjectImages, base_image
from tests.support.components import missing, venv_bin
from tests.support.models import save_model_dir

pytestmark = pytest.mark.docker

DOCKERFILES = sorted(REPOSITORY_ROOT.glob("platform/*/Dockerfile"))
SCRIPTS = sorted(REPOSITORY_ROOT.glob("platform/*/*.sh"))
# Present in the training or tracking-server stack, never needed to serve.
NOT_IN_API_IMAGE = (
    "flask",
    "sqlalchemy",
    "alembic",
    "gunicorn",
    "pandas",
    "matplotlib",
    "psycopg2",
    "mlship.model",
    "pip",
)


def run_in(image: str, *command: str, entrypoint: str | None = None) -> tuple[int, str]:
    arguments = ["docker", "run", "--rm"]
    if entrypoint is not None:
        arguments += ["--entrypoint", entrypoint]
    result = subprocess.run(
        [*arguments, image, *command], capture_output=True, text=True, timeout=300, check=False
    )
    return result.returncode, result.stdout + result.stderr


def test_every_image_has_a_dockerfile() -> None:
    assert {path.parent.name for path in DOCKERFILES} == {"api", "mlflow", "trainer"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.parent.name)
def test_dockerfile_is_hadolint_clean_and_classic_builder_safe(dockerfile: Path) -> None:
    result = subprocess.run(
        [venv_bin("hadolint"), "--failure-threshold", "info", str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = dockerfile.read_text()
    assert "--mount" not in text, "the classic builder has no RUN --mount"
    assert "<<" not in text, "the classic builder has no heredocs"
    assert "ARG PYTHON_IMAGE" in text.split("FROM", 1)[0]


def test_entrypoint_scripts_pass_shellcheck() -> None:
    if shutil.which("shellcheck") is None:
        missing("shellcheck", "apt-get install shellcheck")
    result = subprocess.run(
        ["shellcheck", *map(str, SCRIPTS)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout


def test_images_run_as_non_root_with_health_checks(
    images: ProjectImages, docker_engine: Any
) -> None:
    for name, tag in (("api", images.api), ("mlflow", images.mlflow), ("trainer", images.trainer)):
        config = docker_engine.images.get(tag).attrs["Config"]
        assert config["User"] not in ("", "0", "root", "0:0"), name
        if name != "trainer":  # a one-shot CLI has no probe
            assert config["Healthcheck"]["Test"][0] == "CMD", name
    code, output = run_in(images.api, "id", "-u", entrypoint="")
    assert (code, output.strip()) != (0, "0")


def test_api_image_carries_only_the_serving_dependencies(
    images: ProjectImages, docker_engine: Any
) -> None:
    probe = (
        "import importlib.util as u, json, shutil; "
        f"print(json.dumps([[m for m in {list(NOT_IN_API_IMAGE)!r} if u.find_spec(m)], "
        "[m for m in ['mlship.api', 'onnxruntime', 'numpy'] if u.find_spec(m)], "
        "[t for t in ['gcc', 'cc', 'make'] if shutil.which(t)]]))"
    )
    code, output = run_in(images.api, "-c", probe, entrypoint="python")
    assert code == 0, output
    unwanted, wanted, tools = json.loads(output.strip().splitlines()[-1])
    assert unwanted == []
    assert wanted == ["mlship.api", "onnxruntime", "numpy"]
    assert tools == []
    size = docker_engine.images.get(images.api).attrs["Size"]
    base = docker_engine.images.get(base_image("PYTHON_IMAGE")).attrs["Size"]
    print(f"\nAPI image {size / 1e6:.0f} MB ({(size - base) / 1e6:.0f} MB above its base)")


def test_api_image_refuses_a_model_it_cannot_run_and_says_why(
    images: ProjectImages, docker_engine: Any, tmp_path: Path
) -> None:
    # A model without an ONNX form needs scikit-learn, which the image does not carry: the
    # version is refused with the reason and the fix, and the service stays up (live).
    model = save_model_dir(tmp_path / "model")
    mlmodel = yaml.safe_load((model / "MLmodel").read_text())
    mlmodel["metadata"]["serving"] = {"runtime": "sklearn", "reason": "converter failed"}
    (model / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    for path in (tmp_path, *tmp_path.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    container = docker_engine.containers.run(
        images.api,
        detach=True,
        volumes={str(model): {"bind": "/opt/mlship/model", "mode": "ro"}},
        ports={"8000/tcp": ("127.0.0.1", None)},
    )
    try:
        reasons: dict[str, str] = {}
        deadline = time.monotonic() + 120
        while not reasons and time.monotonic() < deadline:
            time.sleep(0.5)
            container.reload()
            port = (container.attrs["NetworkSettings"]["Ports"].get("8000/tcp") or [{}])[0]
            if "HostPort" not in port or container.status != "running":
                continue
            base = f"http://127.0.0.1:{port['HostPort']}"
            try:
                reasons = httpx.get(f"{base}/model").json()["failed_versions"]
            except httpx.HTTPError:
                continue
        logs = container.logs().decode(errors="replace")
        assert reasons, logs[-3000:]
        assert httpx.get(f"{base}/health/live").status_code == 200
        assert httpx.get(f"{base}/health/ready").status_code == 503
    finally:
        container.remove(force=True)
    assert any("mlship-api[sklearn]" in reason for reason in reasons.values()), reasons


def test_api_image_rejects_bad_settings_without_a_traceback(images: ProjectImages) -> None:
    result = subprocess.run(
        ["docker", "run", "--rm", "-e", "API_WORKERS=0", images.api],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "workers" in result.stderr
    assert "Traceback" not in result.stderr


def test_trainer_image_runs_the_mlship_cli(images: ProjectImages) -> None:
    code, output = run_in(images.trainer, "--help")
    assert code == 0, output
    for command in ("train", "validate", "promote", "rollback"):
        assert command in output
    code, output = run_in(images.trainer, "promote", "--version", "latest")
    assert code == 2
    assert "positive integer" in output
    assert "Traceback" not in output


def test_mlflow_image_serves_with_environment_alone(
    images: ProjectImages, docker_engine: Any
) -> None:
    # Started as the throwaway CI registry is: no command, no arguments, defaults only,
    # authentication switched off explicitly (the default refuses: test_containers_mlflow_auth).
    container = docker_engine.containers.run(
        images.mlflow,
        detach=True,
        environment={"MLFLOW_AUTH": "off"},
        ports={"5000/tcp": ("127.0.0.1", None), "5001/tcp": ("127.0.0.1", None)},
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            container.reload()
            health = container.attrs["State"].get("Health", {}).get("Status")
            if health == "healthy" or container.status == "exited":
                break
            time.sleep(1)
        logs = container.logs().decode(errors="replace")
        assert health == "healthy", logs[-4000:]
        # Said loudly, before anything else runs.
        assert "WARNING: MLFLOW_AUTH=off: authentication is DISABLED" in logs
        ports = container.attrs["NetworkSettings"]["Ports"]
        base = f"http://127.0.0.1:{ports['5000/tcp'][0]['HostPort']}"
        assert httpx.get(f"{base}/health").text == "OK"
        search = httpx.get(f"{base}/api/2.0/mlflow/experiments/search?max_results=1")
        assert search.status_code == 200, search.text
        assert "mlflow_" in httpx.get(f"{base}/metrics").text
        metrics = f"http://127.0.0.1:{ports['5001/tcp'][0]['HostPort']}/metrics"
        assert "mlflow_http_request_total" in httpx.get(metrics).text
        user = container.exec_run(["id", "-u"]).output.decode().strip()
        assert user != "0"
    finally:
        container.remove(force=True)
