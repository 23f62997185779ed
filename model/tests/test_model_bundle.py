"""Bundles without a tracking server: the manifest, ``mlship verify`` and its refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlship.model.cli import main
from mlship.model.errors import BundleError, ExitCode, RefusedError
from mlship.model.manifest import (
    MANIFEST,
    require_new_directory,
    sha256_file,
    verify_bundle,
    write_manifest,
)
from mlship.model.uris import public_uri
from tests.support.components import free_port

pytestmark = pytest.mark.unit

GIT_SHA = "0123456789abcdef0123456789abcdef01234567"  # pragma: allowlist secret
FIELDS: dict[str, Any] = {
    "model_name": "M",
    "source_version": "3",
    "source_tracking_uri": "http://127.0.0.1:5000",
    "run_id": "r" * 32,
    "git_sha": GIT_SHA,
    "pr": "12",
    "data_sha256": "d" * 64,
    "gate": "passed",
    "metrics": {"accuracy": 0.95, "log_loss": 0.2},
    "params": {"seed": "42", "test_size": "0.2"},
}


def make_bundle(directory: Path, **overrides: Any) -> str:
    """A small bundle with the files every bundle has; returns its bundle_sha256."""
    (directory / "model").mkdir(parents=True)
    (directory / "model" / "MLmodel").write_text("flavors: {}\n")
    (directory / "model" / "model.skops").write_bytes(bytes(range(256)))
    (directory / "gate_report.json").write_text('{"passed": true}\n')
    (directory / "gate_report.md").write_text("### Gate PASSED\n")
    return write_manifest(directory, {**FIELDS, **overrides})


def rewrite_manifest(directory: Path, change: dict[str, Any], drop: str | None = None) -> None:
    manifest = json.loads((directory / MANIFEST).read_text())
    manifest.update(change)
    if drop is not None:
        del manifest[drop]
    (directory / MANIFEST).write_text(json.dumps(manifest))


def verify_error(directory: Path, *extra: str, capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``mlship verify`` on a bad bundle: exit 8, one line, no traceback."""
    assert main(["verify", str(directory), *extra]) == ExitCode.BUNDLE_INVALID
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("mlship: error: ")
    return lines[0]


def test_a_written_bundle_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle_sha256 = make_bundle(tmp_path)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["schema"] == 1
    assert set(manifest["files"]) == {
        "model/MLmodel",
        "model/model.skops",
        "gate_report.json",
        "gate_report.md",
    }
    assert manifest["files"]["model/model.skops"] == sha256_file(tmp_path / "model/model.skops")
    assert bundle_sha256 == sha256_file(tmp_path / MANIFEST)

    verified = verify_bundle(tmp_path, git_sha=GIT_SHA.upper())
    assert verified.bundle_sha256 == bundle_sha256
    assert main(["verify", str(tmp_path), "--json", "--git-sha", GIT_SHA]) == ExitCode.OK
    summary = json.loads(capsys.readouterr().out)
    assert summary["bundle_sha256"] == bundle_sha256
    assert summary["file_count"] == 4
    assert "files" not in summary
    assert (summary["model_name"], summary["source_version"], summary["pr"]) == ("M", "3", "12")
    assert main(["verify", str(tmp_path)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert f"bundle {tmp_path} verified: M version 3" in out
    assert bundle_sha256 in out


@pytest.mark.parametrize(
    ("tamper", "complaint"),
    [
        (
            lambda d: (d / "model" / "MLmodel").write_text("flavors: {evil: 1}\n"),
            "model/MLmodel changed",
        ),
        (lambda d: (d / "gate_report.md").unlink(), "gate_report.md missing"),
        (
            lambda d: (d / "model" / "extra.py").write_text("import os\n"),
            "model/extra.py unexpected",
        ),
        (
            lambda d: (d / "notes").mkdir() or (d / "notes" / "a").write_text("x"),
            "notes/a unexpected",
        ),
        (
            lambda d: (d / "model" / "link").symlink_to("/etc/hostname"),
            "model/link unexpected (a symlink)",
        ),
    ],
    ids=["changed", "missing", "unexpected", "unexpected-nested", "symlink"],
)
def test_tampering_is_named(
    tmp_path: Path, tamper: Any, complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make_bundle(tmp_path)
    tamper(tmp_path)
    line = verify_error(tmp_path, capsys=capsys)
    assert "does not verify" in line
    assert complaint in line


def test_every_problem_is_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_bundle(tmp_path)
    (tmp_path / "model" / "MLmodel").write_text("changed\n")
    (tmp_path / "gate_report.json").unlink()
    (tmp_path / "stray.txt").write_text("x")
    line = verify_error(tmp_path, capsys=capsys)
    for complaint in ("model/MLmodel changed", "gate_report.json missing", "stray.txt unexpected"):
        assert complaint in line


@pytest.mark.parametrize(
    ("change", "drop", "complaint"),
    [
        ({}, "git_sha", "lacks field(s) git_sha"),
        ({}, "files", "lacks field(s) files"),
        ({"gate": "failed"}, None, "gate is 'failed', not 'passed'"),
        ({"schema": 2}, None, "schema 2 is not supported"),
        ({"schema": True}, None, "field 'schema' should be int"),
        ({"pr": 12}, None, "field 'pr' should be str or null"),
        ({"metrics": {"accuracy": "high"}}, None, "'metrics' should map names to numbers"),
        ({}, "params", "lacks field(s) params"),
        ({"params": {"seed": 42}}, None, "'params' should map names to strings"),
        ({"files": {"../outside": "0" * 64}}, None, "'../outside' is not inside the bundle"),
        ({"files": {"/etc/passwd": "0" * 64}}, None, "is not inside the bundle"),
        ({"files": {"model/MLmodel": "xyz"}}, None, "not a SHA-256 hex string"),
        ({"files": {}}, None, "does not list model/MLmodel, gate_report.json, gate_report.md"),
    ],
)
def test_a_bad_manifest_is_refused(
    tmp_path: Path,
    change: dict[str, Any],
    drop: str | None,
    complaint: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_bundle(tmp_path)
    rewrite_manifest(tmp_path, change, drop)
    assert complaint in verify_error(tmp_path, capsys=capsys)


def test_manifest_that_is_not_json_or_absent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_bundle(tmp_path)
    (tmp_path / MANIFEST).write_text('{"schema": 1,')
    assert "manifest.json is not valid JSON" in verify_error(tmp_path, capsys=capsys)
    (tmp_path / MANIFEST).write_text("[1, 2]")
    assert "not a JSON object" in verify_error(tmp_path, capsys=capsys)
    (tmp_path / MANIFEST).unlink()
    assert "manifest.json missing" in verify_error(tmp_path, capsys=capsys)
    assert "not a directory" in verify_error(tmp_path / "nowhere", capsys=capsys)


def test_git_sha_must_match_when_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_bundle(tmp_path)
    line = verify_error(tmp_path, "--git-sha", "f" * 40, capsys=capsys)
    assert f"built from git sha {GIT_SHA}, not {'f' * 40}" in line
    with pytest.raises(BundleError, match="built from git sha"):
        verify_bundle(tmp_path, git_sha=GIT_SHA[:12])  # a prefix is not the commit


def test_verify_needs_no_server_no_settings_and_no_mlflow(tmp_path: Path) -> None:
    make_bundle(tmp_path)
    # A fresh interpreter: this test session has imported MLflow already.
    script = (
        "import sys\n"
        "from mlship.model.cli import main\n"
        "code = main(['verify', sys.argv[1]])\n"
        "assert 'mlflow' not in sys.modules, 'verify imported mlflow'\n"
        "sys.exit(code)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        # Settings that would be invalid, and a server that is not there: verify reads neither.
        env={"MLSHIP_TEST_SIZE": "7", "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"},
    )
    assert completed.returncode == 0, completed.stderr
    assert "verified" in completed.stdout


def test_export_needs_a_new_or_empty_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_new_directory(tmp_path / "new")
    require_new_directory(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(RefusedError, match="is not empty"):
        require_new_directory(tmp_path)
    with pytest.raises(RefusedError, match="is not a directory"):
        require_new_directory(tmp_path / "file")
    # Refused before the (unreachable) server is contacted: no wait, exit 5.
    unreachable = f"http://127.0.0.1:{free_port()}"
    argv = ["export", "--version", "1", "--out", str(tmp_path), "--tracking-uri", unreachable]
    assert main(argv) == ExitCode.REFUSED
    assert "is not empty" in capsys.readouterr().err


def test_register_verifies_before_contacting_the_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_bundle(tmp_path)
    (tmp_path / "gate_report.md").write_text("### Gate PASSED (edited)\n")
    unreachable = f"http://127.0.0.1:{free_port()}"
    assert main(["register", str(tmp_path), "--tracking-uri", unreachable]) == 8
    assert "gate_report.md changed" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        (
            "http://delivery:s3cret@mlflow.internal:5000",  # pragma: allowlist secret
            "http://mlflow.internal:5000",
        ),
        ("https://user:p@ss@host/path?x=1", "https://host/path?x=1"),
        ("https://token@host", "https://host"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("sqlite:///mlflow.db", "sqlite:///mlflow.db"),
    ],
)
def test_credentials_are_stripped_from_shown_uris(uri: str, shown: str) -> None:
    assert public_uri(uri) == shown


def test_manifest_records_a_stripped_uri_as_given(tmp_path: Path) -> None:
    make_bundle(tmp_path, source_tracking_uri=public_uri("http://a:b@h:1"))
    assert verify_bundle(tmp_path).manifest["source_tracking_uri"] == "http://h:1"
