"""The CI glue the workflows call through make: the report script and the services script."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.components import free_port, venv_bin
from tests.workflows.act_repo import ROOT

SCRIPT = ROOT / ".github/scripts/mlship_ci.py"


def _status(production: str | None, versions: list[dict[str, Any]]) -> dict[str, Any]:
    aliases = {"production": production} if production else {}
    return {"model_name": "IrisClassifier", "aliases": aliases, "versions": versions}


def _version(
    number: int, accuracy: float, pr: str | None = None, gate: str = "passed"
) -> dict[str, Any]:
    return {"version": str(number), "metrics": {"accuracy": accuracy}, "pr": pr, "gate": gate}


def _ci(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [venv_bin("python"), str(SCRIPT), *arguments], capture_output=True, text=True, check=False
    )


@pytest.mark.unit
def test_report_compares_the_candidate_with_production(tmp_path: Path) -> None:
    status = tmp_path / "status.json"
    status.write_text(json.dumps(_status("1", [_version(2, 0.9667), _version(1, 0.9333)])))
    gate = tmp_path / "gate_report.json"
    checks = [{"name": "threshold:accuracy", "passed": False, "observed": 0.9667, "limit": 0.99}]
    gate.write_text(
        json.dumps(
            {"model_name": "IrisClassifier", "version": "2", "passed": False, "checks": checks}
        )
    )
    out = tmp_path / "report.md"

    result = _ci(
        "report", "--status", str(status), "--gate", str(gate), "--out", str(out), "--title", "pr"
    )

    assert result.returncode == 0, result.stderr
    report = out.read_text()
    assert report.startswith("## pr\n")
    assert "### Gate FAILED: IrisClassifier version 2" in report
    assert "| threshold:accuracy | **FAIL** | 0.9667 | 0.9900 |" in report
    assert f"| accuracy | 0.9667 | 0.9333 | {0.9667 - 0.9333:+.4f} |" in report
    assert "<!-- mlship-gate-report -->" in report  # the PR comment is found by it


@pytest.mark.unit
def test_report_without_a_gate_says_so(tmp_path: Path) -> None:
    status = tmp_path / "status.json"
    status.write_text(json.dumps(_status(None, [])))
    out = tmp_path / "report.md"
    result = _ci(
        "report", "--status", str(status), "--gate", str(tmp_path / "none.json"), "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert "The gate did not run in this job." in out.read_text()


@pytest.mark.unit
def test_pr_version_is_the_newest_that_passed_the_gate(tmp_path: Path) -> None:
    versions = [
        _version(5, 0.9, pr="8", gate="failed"),
        _version(4, 0.9, pr="7"),
        _version(3, 0.9, pr="8"),
        _version(2, 0.9, pr="8"),
    ]
    status = tmp_path / "status.json"
    status.write_text(json.dumps(_status("1", versions)))
    found = _ci("pr-version", "--status", str(status), "--pr", "8")
    assert (found.returncode, found.stdout.strip()) == (0, "3")
    none = _ci("pr-version", "--status", str(status), "--pr", "9")
    assert none.returncode == 2
    assert "no version of pull request #9 passed the gate" in none.stderr


@pytest.mark.unit
def test_bad_input_is_one_clear_line(tmp_path: Path) -> None:
    status = tmp_path / "status.json"
    status.write_text("not json")
    result = _ci("pr-version", "--status", str(status), "--pr", "1")
    assert result.returncode == 2
    assert result.stderr.startswith("mlship_ci: error: status file")
    assert "Traceback" not in result.stderr


@pytest.mark.integration
def test_ci_services_refuse_a_taken_port_before_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        environment = {
            **os.environ,
            "CI_MLFLOW_PORT": str(port),
            "CI_POSTGRES_PORT": str(free_port()),
            "CI_SERVICES_DIR": str(tmp_path / "state"),
            "MLFLOW_BIN": venv_bin("mlflow"),
            "PYTHON_BIN": venv_bin("python"),
        }
        result = subprocess.run(
            [str(ROOT / ".github/scripts/ci-services.sh"), "up"],
            env=environment,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    assert result.returncode != 0
    assert f"port {port} is taken: set CI_MLFLOW_PORT" in result.stderr
    assert not (tmp_path / "state").exists()
