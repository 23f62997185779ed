"""A bounded Schemathesis pass against a real ``mlship-api`` process (``make fuzz`` runs more)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.run import fuzz
from tests.support.components import venv_bin

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_generated_requests_get_no_5xx_and_conform_to_the_schema(tmp_path: Path) -> None:
    venv_bin("schemathesis")  # skips (fails in strict mode) when it is not installed
    summary = fuzz(tmp_path, max_examples=15, max_seconds=90, seed=20261128)
    log = (tmp_path / "schemathesis.log").read_text()
    assert summary["exit_code"] == 0, log[-6000:]
    assert summary["api_alive_after"]
    by_status = summary["requests_by_status_class"]
    assert isinstance(by_status, dict)
    assert "5xx" not in by_status, by_status
    requests = summary["requests"]
    assert isinstance(requests, int)
    assert requests >= 200, log[-3000:]
