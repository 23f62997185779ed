"""Each overlay is rendered once per session; tests receive the parsed documents."""

from __future__ import annotations

import pytest

from tests.k8s.manifests import OVERLAYS, Manifest, find_kubectl, render


@pytest.fixture(scope="session")
def kubectl() -> str:
    return find_kubectl()


@pytest.fixture(scope="session")
def rendered(kubectl: str) -> dict[str, list[Manifest]]:
    return {overlay: render(kubectl, overlay) for overlay in OVERLAYS}


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def manifests(rendered: dict[str, list[Manifest]], overlay: str) -> list[Manifest]:
    return rendered[overlay]
