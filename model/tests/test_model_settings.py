"""Settings come from the environment under their documented names."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlship.model.settings import Settings

pytestmark = pytest.mark.unit


def test_conventional_and_prefixed_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking:5000")
    monkeypatch.setenv("MODEL_NAME", "Other")
    monkeypatch.setenv("MLSHIP_SEED", "7")
    monkeypatch.setenv("MLSHIP_MODEL", "BreastCancerForest")
    settings = Settings()
    assert (settings.tracking_uri, settings.model_name, settings.seed, settings.model) == (
        "http://tracking:5000",
        "Other",
        7,
        "BreastCancerForest",
    )


def test_names_default_to_the_specification(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MODEL_NAME", "MLSHIP_MODEL", "MLSHIP_EXPERIMENT_NAME", "MLSHIP_SEED"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert (settings.model, settings.model_name, settings.experiment_name) == (None, "", "")
    assert (settings.seed, settings.test_size) == (None, None)


def test_explicit_values_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_NAME", "FromEnv")
    assert Settings(model_name="Explicit").model_name == "Explicit"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PR_NUMBER": "17"}, "17"),
        ({"GITHUB_REF": "refs/pull/42/merge"}, "42"),
        ({"GITHUB_REF": "refs/heads/main"}, None),
        ({}, None),
    ],
)
def test_pull_request(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str | None
) -> None:
    for name in ("PR_NUMBER", "MLSHIP_PR", "GITHUB_REF"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings().pull_request() == expected


def test_git_sha_from_github(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GIT_SHA", raising=False)
    monkeypatch.setenv("GITHUB_SHA", "f" * 40)
    assert Settings().git_sha == "f" * 40


@pytest.mark.parametrize(
    "field", [{"test_size": 1.5}, {"test_size": 0}, {"connect_timeout_seconds": -1}]
)
def test_out_of_range_values_are_rejected(field: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings(**field)  # type: ignore[arg-type]


def test_baseline_registry_and_note_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLSHIP_BASELINE_URI", "https://mlflow.example:5000")
    monkeypatch.setenv("MLSHIP_BASELINE_NOTE", " fork pull request: absolute checks only ")
    settings = Settings()
    assert settings.baseline_uri == "https://mlflow.example:5000"
    assert settings.baseline_note == "fork pull request: absolute checks only"


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_baseline_is_no_baseline(monkeypatch: pytest.MonkeyPatch, blank: str) -> None:
    # A workflow passes `${{ secrets.X }}`: empty where the secret is withheld (forks).
    monkeypatch.setenv("MLSHIP_BASELINE_URI", blank)
    monkeypatch.setenv("MLSHIP_BASELINE_NOTE", blank)
    assert (Settings().baseline_uri, Settings().baseline_note) == (None, None)
