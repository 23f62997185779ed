"""Configuration of the inference service, read from the environment by ``Settings()``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class Settings(BaseSettings):
    """Every knob of the service; environment variables carry the ``API_`` prefix."""

    model_config = SettingsConfigDict(env_prefix="API_", extra="ignore", frozen=True)

    model_uri: str = Field(
        default="models:/IrisClassifier@production",
        description="models:/NAME@ALIAS, models:/NAME/VERSION or a local MLflow model directory",
    )
    tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("API_TRACKING_URI", "MLFLOW_TRACKING_URI", "tracking_uri"),
    )
    keys: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="comma-separated API keys"
    )
    keys_file: Path | None = Field(default=None, description="file with one API key per line")
    keys_refresh_seconds: float = Field(
        default=5.0, gt=0, description="how often API_KEYS_FILE is re-read (key rotation)"
    )
    rate_limit_per_second: float = Field(
        default=0.0, ge=0, description="prediction requests per second per key/address; 0 = off"
    )
    rate_limit_burst: int = Field(default=50, ge=1, description="requests a caller may save up")
    cors_allow_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="comma-separated origins allowed by CORS; empty = CORS off"
    )
    reload_interval_seconds: float = Field(default=10.0, gt=0)
    registry_timeout_seconds: int = Field(default=5, ge=1)
    startup_load_timeout_seconds: float = Field(
        default=60.0, ge=0, description="start-up waits this long for the first model load"
    )
    max_batch_rows: int = Field(default=10_000, ge=1)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    # uvicorn with httptools bounds neither the size nor the number of header lines, nor how
    # long a body takes: the app refuses what slipped through (431, 408); a proxy bounds first.
    max_headers: int = Field(default=100, ge=8, le=10_000, description="header lines (431 above)")
    max_header_bytes: int = Field(
        default=16_384, ge=1024, description="bytes of header names and values (431 above)"
    )
    body_timeout_s: float = Field(
        default=10.0, gt=0, le=600, description="seconds a body may take to arrive (408 after)"
    )
    max_feature_magnitude: float = Field(
        default=1e12,
        gt=0,
        le=1e300,
        description="largest |value| of a feature (422 above): finite inputs never overflow "
        "the model's arithmetic; declared in the OpenAPI schema",
    )
    metrics_flush_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="how stale one worker's metrics may be in another worker's /metrics",
    )
    batch_max_rows: int = Field(
        default=64, ge=1, description="rows one coalesced runtime call may hold"
    )
    batch_max_wait_ms: float = Field(
        default=0.0,
        ge=0,
        le=100,
        description="how long a prediction may wait for others to share its runtime call; "
        "0 = no adaptive batching",
    )
    image_ref: str = Field(
        default="",
        description="the image this process runs, by digest (set by the deploy record); "
        "exported as mlship_build_info{image_ref}",
    )
    log_level: LogLevel = "info"
    access_log: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    prometheus_multiproc_dir: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir"),
    )

    @field_validator("keys", "cors_allow_origins", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(key.strip() for key in value.split(",") if key.strip())
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _keys_file_readable(self) -> Settings:
        if self.keys_file is not None and not self.keys_file.is_file():
            raise ValueError(f"API_KEYS_FILE {self.keys_file} is not a readable file")
        if self.workers > 1 and self.prometheus_multiproc_dir is None:
            raise ValueError(
                "API_WORKERS > 1 needs PROMETHEUS_MULTIPROC_DIR (metrics are shared through it)"
            )
        return self

    def file_keys_loader(self) -> Callable[[], tuple[str, ...]] | None:
        """Re-reads every key source (for rotation), when a keys file is configured."""
        return self.api_keys if self.keys_file is not None else None

    def api_keys(self) -> tuple[str, ...]:
        """Keys from ``API_KEYS`` and ``API_KEYS_FILE`` (blank lines and # comments skipped)."""
        keys = list(self.keys)
        if self.keys_file is not None:
            for line in self.keys_file.read_text().splitlines():
                stripped = line.strip()
                if stripped and not stripped.startswith("#"):
                    keys.append(stripped)
        return tuple(keys)
