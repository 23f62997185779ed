"""Settings from the environment, and the CLI's refusal of bad ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from mlship.api.settings import Settings

pytestmark = pytest.mark.unit


def test_defaults_follow_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("API_MODEL_URI", "API_TRACKING_URI", "MLFLOW_TRACKING_URI", "API_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.model_uri == "models:/IrisClassifier@production"
    assert settings.port == 8000
    assert settings.workers == 1
    assert settings.max_batch_rows == 10_000
    assert settings.api_keys() == ()
    # Request limits: safe by default (uvicorn with httptools has none of its own).
    assert (settings.max_headers, settings.max_header_bytes) == (100, 16_384)
    assert settings.body_timeout_s == 10.0
    assert settings.max_feature_magnitude == 1e12


def test_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("three\n")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://fallback:5000")
    monkeypatch.setenv("API_KEYS", "one, two")
    monkeypatch.setenv("API_KEYS_FILE", str(keys))
    monkeypatch.setenv("API_LOG_LEVEL", "DEBUG")
    settings = Settings()
    assert settings.tracking_uri == "http://fallback:5000"
    assert settings.api_keys() == ("one", "two", "three")
    assert settings.log_level == "debug"
    monkeypatch.setenv("API_TRACKING_URI", "http://explicit:5000")
    assert Settings().tracking_uri == "http://explicit:5000"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("API_PORT", "http", "port"),
        ("API_MAX_BATCH_ROWS", "0", "max_batch_rows"),
        ("API_KEYS_FILE", "/nonexistent/keys", "API_KEYS_FILE"),
        ("API_WORKERS", "2", "PROMETHEUS_MULTIPROC_DIR"),
        ("API_BATCH_MAX_WAIT_MS", "500", "batch_max_wait_ms"),
        ("API_MAX_HEADERS", "0", "max_headers"),
        ("API_MAX_HEADER_BYTES", "10", "max_header_bytes"),
        ("API_BODY_TIMEOUT_S", "0", "body_timeout_s"),
        ("API_MAX_FEATURE_MAGNITUDE", "inf", "max_feature_magnitude"),
    ],
)
def test_bad_settings_exit_with_a_message_and_no_traceback(
    variable: str, value: str, message: str
) -> None:
    refused_by_the_cli({variable: value}, message)
    with pytest.raises(ValidationError):
        Settings(**{variable.removeprefix("API_").lower(): value})  # type: ignore[arg-type]


def refused_by_the_cli(environment: dict[str, str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mlship.api"],
        env={"PATH": "/usr/bin:/bin", **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_registry_model_without_a_tracking_server_is_refused_by_name() -> None:
    refused_by_the_cli({"API_MODEL_URI": "models:/Iris@production"}, "API_TRACKING_URI")
