"""Configuration of the model lifecycle, read from the environment when asked.

``MLFLOW_TRACKING_URI`` and ``MODEL_NAME`` keep their conventional names; the
rest carries the ``MLSHIP_`` prefix. CLI options override the environment.
"""

from __future__ import annotations

import re

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PULL_REF = re.compile(r"^refs/pull/(\d+)/")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MLSHIP_", extra="ignore", frozen=True, validate_by_name=True
    )

    tracking_uri: str = Field(
        default="http://127.0.0.1:5000", validation_alias="MLFLOW_TRACKING_URI"
    )
    # The declared model (a specification's name, see catalog.select); None: MODEL_NAME
    # when it names one, else the default model.
    model: str | None = None
    # Empty: the specification's own name and experiment (filled in by catalog.select).
    model_name: str = Field(default="", validation_alias="MODEL_NAME")
    experiment_name: str = ""
    # Override the specification's split (and the estimators' random_state) when set.
    seed: int | None = None
    test_size: float | None = Field(default=None, gt=0.0, lt=1.0)
    # Total time spent waiting for an unreachable tracking server before giving up.
    connect_timeout_seconds: float = Field(default=8.0, ge=0.0)
    # Provenance, when the caller knows it (CI sets GITHUB_SHA, GITHUB_REF or PR_NUMBER).
    git_sha: str | None = Field(
        default=None, validation_alias=AliasChoices("GIT_SHA", "GITHUB_SHA")
    )
    pr: str | None = Field(default=None, validation_alias=AliasChoices("MLSHIP_PR", "PR_NUMBER"))
    github_ref: str | None = Field(default=None, validation_alias="GITHUB_REF")
    # The registry the gate reads `production` from (read-only); None: the tracking URI's.
    baseline_uri: str | None = None
    # Said in the gate report when no baseline is used (e.g. why a fork PR has none).
    baseline_note: str | None = None

    @field_validator("baseline_uri", "baseline_note", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # A workflow passes `${{ secrets.X }}`, which is empty where secrets are withheld.
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    def pull_request(self) -> str | None:
        """The pull request number, from ``pr`` or a ``refs/pull/N/...`` ref."""
        if self.pr:
            return self.pr
        match = _PULL_REF.match(self.github_ref or "")
        return match.group(1) if match else None
