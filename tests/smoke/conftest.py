"""The API image under test: ``--api-image`` / ``API_IMAGE``, or one built here.

Without a reference the suite builds the API image itself, with a model
registered on the session's tracking server baked in, so ``make test`` smoke
tests the image the Dockerfile produces today.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.containers.docker_engine import REPOSITORY_ROOT, SESSION, build, engine, remove_image
from tests.support.components import venv_bin
from tests.support.models import register_model


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--api-image",
        default=None,
        help="API image to smoke-test (default: $API_IMAGE, else build one with a baked model)",
    )


@pytest.fixture(scope="session")
def api_image(request: pytest.FixtureRequest) -> Iterator[str]:
    import docker  # noqa: PLC0415

    given = request.config.getoption("--api-image", default=None) or os.environ.get("API_IMAGE")
    client = engine()
    if given:
        try:
            client.images.get(given)
        except docker.errors.ImageNotFound:
            pytest.fail(f"API image {given!r} is not in the local engine: build or pull it first")
        yield given
        return
    server = request.getfixturevalue("mlflow_server")
    name = f"SmokeModel_{SESSION}"
    register_model(server.uri, name)
    # As make image-api does: the model is fetched on the host into the build context,
    # so the build itself needs no registry (no address or credential in build args).
    staged = REPOSITORY_ROOT / ".mlship/image-model" / f"smoke-{SESSION}"
    shutil.rmtree(staged, ignore_errors=True)
    fetched = subprocess.run(
        [venv_bin("mlship-api"), "fetch", str(staged)],
        env={
            **os.environ,
            "API_MODEL_URI": f"models:/{name}@production",
            "API_TRACKING_URI": server.uri,
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    try:
        tag = build(
            "platform/api/Dockerfile",
            f"mlship-test/api-baked:{SESSION}",
            build_args={"MODEL_DIR": str(staged.relative_to(REPOSITORY_ROOT))},
        )
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    yield tag
    remove_image(tag)
