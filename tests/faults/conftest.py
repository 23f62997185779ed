"""Session fixtures of the fault drills: the API image, shared with the container suites."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.containers.docker_engine import engine, project_images, remove_project_images


@pytest.fixture(scope="session")
def api_image() -> Iterator[str]:
    """The API image of this session (built once, whichever suite asks first)."""
    engine()
    yield project_images().api
    remove_project_images()
