"""Session fixtures of the container suites: the engine and the project's images."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.containers.docker_engine import (
    ProjectImages,
    engine,
    project_images,
    remove_project_images,
)


@pytest.fixture(scope="session")
def docker_engine() -> Any:
    return engine()


@pytest.fixture(scope="session")
def images(docker_engine: Any) -> Iterator[ProjectImages]:
    yield project_images()
    remove_project_images()
