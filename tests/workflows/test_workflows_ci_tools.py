"""The CI glue the workflows call through make: the report script and the services script."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.components import venv_bin
from tests.workflows.act_repo import ROOT

SCRIPT = ROOT / ".github/scripts/mlship_ci.py"


def _status(production: str | None, versions: list[dict[str, Any]]) -> dict[str, Any]:
    aliases = {"production": production} if production else {}
    return {"model_name": "IrisClassifier", "aliases": aliases, "versions": versions}


def _version(number: int, accuracy: float) -> dict[str, Any]:
    return {"version": str(number), "metrics": {"accuracy": accuracy}, "gate": "passed"}


def _ci(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [venv_bin("python"), str(SCRIPT), *arguments], capture_output=True, text=True, check=False
    )


@pytest.mark.unit
def test_report_reuses_the_gate_report_and_compares_with_production(tmp_path: Path) -> None:
    status = tmp_path / "status.json"
    status.write_text(json.dumps(_status("1", [_version(2, 0.9667), _version(1, 0.9333)])))
    gate = tmp_path / "gate_report.json"
    gate.write_text(json.dumps({"model_name": "IrisClassifier", "version": "2", "passed": False}))
    # The gate's own markdown goes into the report verbatim: one renderer of the gate table.
    (tmp_path / "gate_report.md").write_text("### Gate FAILED: IrisClassifier version 2\n\n| x |\n")
    out = tmp_path / "report.md"

    result = _ci(
        "report",
        "--status",
        str(status),
        "--gate",
        str(gate),
        "--out",
        str(out),
        "--title",
        "pr",
        "--commit",
        "abc123",
        "--outcome",
        "failure",
        "--model",
        "IrisClassifier",
    )

    assert result.returncode == 0, result.stderr
    report = out.read_text()
    assert report.startswith("## pr\n")
    assert "> Reports on commit `abc123`." in report
    assert "> **The run ended: failure.** See its log." in report
    assert "### Gate FAILED: IrisClassifier version 2\n\n| x |\n" in report
    assert f"| accuracy | 0.9667 | 0.9333 | {0.9667 - 0.9333:+.4f} |" in report
    # The model's PR comment is found by its marker, the last line.
    assert report.endswith("<!-- mlship-gate-report:IrisClassifier -->\n")


@pytest.mark.unit
def test_each_model_keeps_its_own_pull_request_comment(tmp_path: Path) -> None:
    """The marker sticky-comment.sh edits by is the model's: matrix legs never share one."""
    script = (ROOT / ".github/actions/publish-report/sticky-comment.sh").read_text()
    pattern = re.search(r"grep -oE '([^']+)'", script)
    assert pattern, "sticky-comment.sh no longer greps the report's marker"
    markers = []
    for model in ("IrisClassifier", "BreastCancerForest"):
        status = tmp_path / f"{model}.json"
        status.write_text(json.dumps({"model_name": model, "aliases": {}, "versions": []}))
        out = tmp_path / f"{model}.md"
        result = _ci("report", "--status", str(status), "--out", str(out), "--model", model)
        assert result.returncode == 0, result.stderr
        found = re.findall(pattern.group(1), out.read_text())
        assert found == [f"<!-- mlship-gate-report:{model} -->"]
        markers.append(found[0])
    # Neither contains the other: `contains` in sticky-comment.sh's jq finds one only.
    assert markers[0] not in markers[1]
    assert markers[1] not in markers[0]


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
@pytest.mark.parametrize(
    ("status_text", "gate_markdown", "message"),
    [
        ("not json", True, "mlship_ci: error: status file"),
        (json.dumps({"aliases": {}, "versions": []}), False, "has no markdown twin"),
    ],
)
def test_bad_input_is_one_clear_line(
    tmp_path: Path, status_text: str, gate_markdown: bool, message: str
) -> None:
    status = tmp_path / "status.json"
    status.write_text(status_text)
    gate = tmp_path / "gate_report.json"
    gate.write_text(json.dumps({"version": "1", "passed": True}))
    if gate_markdown:
        (tmp_path / "gate_report.md").write_text("### Gate passed\n")
    result = _ci(
        "report", "--status", str(status), "--gate", str(gate), "--out", str(tmp_path / "r")
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
