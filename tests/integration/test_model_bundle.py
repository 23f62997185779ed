"""Build once, promote that artifact: bundles between two real PostgreSQL-backed registries.

``mlflow_server`` plays the pull request's throwaway registry, where a version is
trained, gated and exported; ``persistent`` is the registry delivery writes to,
where the verified bundle is registered, gated again, promoted and restored.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow.artifacts
import pytest
from mlflow.models import Model
from mlflow.tracking import MlflowClient

from mlship.model.catalog import Catalog
from mlship.model.cli import main
from mlship.model.data import load_dataset
from mlship.model.errors import ExitCode, TrackingServerUnreachableError
from mlship.model.settings import Settings
from mlship.model.training import train_and_register
from mlship.model.validation import validate
from tests.support import processes
from tests.support.components import free_port, wait_until
from tests.support.mlflow_server import MlflowServer, new_mlflow_server
from tests.support.postgres import PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FIRST_SHA = "a" * 40
SECOND_SHA = "b" * 40


@pytest.fixture(scope="module")
def persistent(
    postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MlflowServer]:
    """A second tracking server on its own database: the persistent registry."""
    server = new_mlflow_server(postgres, tmp_path_factory.mktemp("persistent")).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def bounded_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI sets these with setdefault; set here, the test's monkeypatch undoes them.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    monkeypatch.setenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


def settings(uri: str, model_name: str, **changes: Any) -> Settings:
    fields: dict[str, Any] = {
        "tracking_uri": uri,
        "model_name": model_name,
        "experiment_name": f"exp-{model_name}",
        "connect_timeout_seconds": 5,
        **changes,
    }
    return Settings(**fields)


def with_credentials(uri: str) -> str:
    # The test servers run without auth and ignore them; they must never be shown.
    return uri.replace("http://", "http://ci:s3cret@")  # pragma: allowlist secret


def cli(uri: str, model_name: str, *argv: str) -> int:
    return main([*argv, "--tracking-uri", uri, "--model-name", model_name])


def cli_json(capsys: pytest.CaptureFixture[str], uri: str, model_name: str, *argv: str) -> Any:
    code = cli(uri, model_name, *argv, "--json")
    captured = capsys.readouterr()
    assert code == ExitCode.OK, captured.err
    return json.loads(captured.out)


def registry(uri: str) -> MlflowClient:
    # Explicit registry: the code under test points MLflow's process-wide one elsewhere.
    return MlflowClient(uri, registry_uri=uri)


def aliases(uri: str, model_name: str) -> dict[str, str]:
    return dict(registry(uri).get_registered_model(model_name).aliases)


def registry_state(uri: str, model_name: str) -> list[tuple[str, dict[str, str], list[str]]]:
    """Every version's tags and aliases: what a read-only use must leave as it was."""
    versions = registry(uri).search_model_versions(f"name = '{model_name}'")
    return sorted(
        (version.version, dict(version.tags), sorted(aliases(uri, model_name)))
        for version in versions
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export(
    capsys: pytest.CaptureFixture[str], uri: str, model_name: str, version: str, out: Path
) -> dict[str, Any]:
    summary: dict[str, Any] = cli_json(
        capsys, with_credentials(uri), model_name, "export", "--version", version, "--out", str(out)
    )
    return summary


def assert_bundle(bundle: Path, summary: dict[str, Any], source: MlflowServer, run_id: str) -> None:
    manifest_text = (bundle / "manifest.json").read_text()
    assert "s3cret" not in manifest_text
    manifest = json.loads(manifest_text)
    assert summary["bundle_sha256"] == sha256(bundle / "manifest.json")
    assert manifest["source_tracking_uri"] == source.uri
    assert manifest["gate"] == "passed"
    assert manifest["data_sha256"] == load_dataset(Catalog.discover().get("IrisClassifier")).sha256
    assert manifest["run_id"] == run_id
    assert manifest["metrics"] == registry(source.uri).get_run(run_id).data.metrics
    on_disk = {
        path.relative_to(bundle).as_posix(): sha256(path)
        for path in bundle.rglob("*")
        if path.is_file() and path.name != "manifest.json"
    }
    assert manifest["files"] == on_disk
    assert {"model/MLmodel", "model/model.onnx", "gate_report.json", "gate_report.md"} <= set(
        on_disk
    )
    assert manifest["files"]["model/model.onnx"] == sha256(bundle / "model" / "model.onnx")
    assert (manifest["params"]["seed"], manifest["params"]["test_size"]) == ("42", "0.2")
    assert "registered_model_meta" not in {Path(name).name for name in on_disk}
    signature = Model.load(str(bundle / "model" / "MLmodel")).signature
    assert signature is not None
    assert json.loads((bundle / "gate_report.json").read_text())["passed"] is True
    assert "Gate PASSED" in (bundle / "gate_report.md").read_text()


def test_a_gated_version_is_exported_verified_registered_gated_promoted_and_restored(
    mlflow_server: MlflowServer,
    persistent: MlflowServer,
    model_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    policy = None  # each model's own policy
    pr = settings(mlflow_server.uri, model_name, git_sha=FIRST_SHA, pr="7")
    first = train_and_register(pr)
    assert validate(pr, policy, first.version, None).passed

    # -- pull request: export the version just gated
    bundle = tmp_path / "bundle"
    summary = export(capsys, mlflow_server.uri, model_name, first.version, bundle)
    assert (summary["model_name"], summary["source_version"]) == (model_name, first.version)
    assert (summary["git_sha"], summary["pr"]) == (FIRST_SHA, "7")
    assert_bundle(bundle, summary, mlflow_server, first.run_id)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bundle"]  # no partial dirs
    bundle_sha256 = summary["bundle_sha256"]

    # -- delivery: a tampered copy fails verification and is not registered
    assert main(["verify", str(bundle), "--git-sha", FIRST_SHA]) == ExitCode.OK
    capsys.readouterr()
    tampered = tmp_path / "tampered"
    shutil.copytree(bundle, tampered)
    (tampered / "model" / "MLmodel").write_text(
        (tampered / "model" / "MLmodel").read_text() + "# edited\n"
    )
    assert main(["verify", str(tampered)]) == ExitCode.BUNDLE_INVALID
    assert "model/MLmodel changed" in capsys.readouterr().err
    assert main(["verify", str(bundle), "--git-sha", SECOND_SHA]) == ExitCode.BUNDLE_INVALID
    assert f"not {SECOND_SHA}" in capsys.readouterr().err
    code = cli(persistent.uri, model_name, "register", str(tampered))
    assert code == ExitCode.BUNDLE_INVALID
    assert "model/MLmodel changed" in capsys.readouterr().err
    assert registry(persistent.uri).search_model_versions(f"name = '{model_name}'") == []

    # -- register the verified bundle: lineage tags, no gate verdict copied, once only
    registered = cli_json(capsys, persistent.uri, model_name, "register", str(bundle))
    assert registered == {
        "model_name": model_name,
        "version": "1",
        "run_id": registered["run_id"],
        "bundle_sha256": bundle_sha256,
        "created": True,
    }
    client = registry(persistent.uri)
    tags = client.get_model_version(model_name, "1").tags
    assert tags == {
        "git_sha": FIRST_SHA,
        "pr": "7",
        "data_sha256": load_dataset(Catalog.discover().get("IrisClassifier")).sha256,
        "bundle_sha256": bundle_sha256,
        "source": f"{mlflow_server.uri} version {first.version}",
    }
    run = client.get_run(registered["run_id"])
    assert run.data.metrics == json.loads((bundle / "manifest.json").read_text())["metrics"]
    assert run.data.tags["bundle_sha256"] == bundle_sha256
    logged = {item.path for item in client.list_artifacts(registered["run_id"], "bundle")}
    assert "bundle/manifest.json" in logged
    # The registry serves exactly the bytes that were verified.
    location = client.get_model_version_download_uri(model_name, "1")
    served = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=location, dst_path=str(tmp_path / "served"), tracking_uri=persistent.uri
        )
    )
    manifest_files = json.loads((bundle / "manifest.json").read_text())["files"]
    for path in served.rglob("*"):
        if path.is_file():
            assert manifest_files[f"model/{path.relative_to(served).as_posix()}"] == sha256(path)
    again = cli_json(capsys, persistent.uri, model_name, "register", str(bundle))
    assert (again["version"], again["created"]) == ("1", False)
    assert len(client.search_model_versions(f"name = '{model_name}'")) == 1

    # -- gated again in the persistent registry before it may be promoted
    assert cli(persistent.uri, model_name, "promote", "--version", "1") == ExitCode.REFUSED
    assert "never validated" in capsys.readouterr().err
    delivery = settings(persistent.uri, model_name)
    report = validate(delivery, policy, "1", None)
    assert report.passed
    assert (report.production_version, report.production_registry) == (None, persistent.uri)
    # The registering run carries the training split, so parity is recomputed here too.
    parity = next(check for check in report.checks if check.kind == "onnx_parity")
    assert parity.detail.startswith("float64 ONNX form on 30 test rows"), parity.detail
    assert client.get_run(registered["run_id"]).data.params["seed"] == "42"
    promotion = cli_json(capsys, persistent.uri, model_name, "promote", "--version", "1")
    assert promotion["before"] == {"production": None, "previous": None}
    record = tmp_path / "promotion-1.json"
    record.write_text(json.dumps(promotion))
    # A step after the promotion failed: the first promotion is undone entirely.
    restored = cli_json(capsys, persistent.uri, model_name, "restore", "--from", str(record))
    assert (restored["production"], restored["previous"], restored["changed"]) == (None, None, True)
    assert aliases(persistent.uri, model_name) == {}
    assert cli(persistent.uri, model_name, "promote", "--version", "1") == ExitCode.OK
    capsys.readouterr()

    # -- the next pull request is gated against the persistent registry's production
    pr2 = settings(
        mlflow_server.uri,
        model_name,
        git_sha=SECOND_SHA,
        pr="8",
        baseline_uri=with_credentials(persistent.uri),
    )
    second = train_and_register(pr2)
    untouched = registry_state(persistent.uri, model_name)
    report = validate(pr2, policy, second.version, None)
    assert report.passed
    # The throwaway registry has no production: version 1 and the regression checks
    # can only come from the baseline.
    assert report.production_version == "1"
    assert {check.kind for check in report.checks} >= {"regression", "signature"}
    assert report.production_registry == persistent.uri
    assert "s3cret" not in report.compact_json() + report.to_markdown()
    assert registry_state(persistent.uri, model_name) == untouched
    tag = registry(mlflow_server.uri).get_model_version(model_name, second.version).tags
    assert json.loads(tag["gate_report"])["production_registry"] == persistent.uri

    second_bundle = tmp_path / "bundle-2"
    export(capsys, mlflow_server.uri, model_name, second.version, second_bundle)
    registered = cli_json(capsys, persistent.uri, model_name, "register", str(second_bundle))
    assert (registered["version"], registered["created"]) == ("2", True)
    report = validate(delivery, policy, "2", None)
    assert report.passed
    assert report.production_version == "1"
    promotion = cli_json(capsys, persistent.uri, model_name, "promote", "--version", "2")
    assert promotion["before"] == {"production": "1", "previous": None}
    assert aliases(persistent.uri, model_name) == {"production": "2", "previous": "1"}
    record = tmp_path / "promotion-2.json"
    record.write_text(json.dumps(promotion))
    restored = cli_json(capsys, persistent.uri, model_name, "restore", "--from", str(record))
    assert (restored["production"], restored["previous"]) == ("1", None)
    assert aliases(persistent.uri, model_name) == {"production": "1"}

    # -- someone moved production after the promotion: restore refuses, nothing changes
    promotion = cli_json(capsys, persistent.uri, model_name, "promote", "--version", "2")
    record.write_text(json.dumps(promotion))
    assert cli(persistent.uri, model_name, "rollback") == ExitCode.OK
    capsys.readouterr()
    assert cli(persistent.uri, model_name, "restore", "--from", str(record)) == ExitCode.REFUSED
    assert "someone else moved it" in capsys.readouterr().err
    assert aliases(persistent.uri, model_name) == {"production": "1", "previous": "2"}


def test_only_a_version_that_passed_the_gate_is_exported(
    mlflow_server: MlflowServer,
    model_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pr = settings(mlflow_server.uri, model_name, git_sha=FIRST_SHA)
    weak = Catalog.discover().get("IrisClassifier").with_params({"C": 0.001})
    degraded = train_and_register(pr, weak)
    out = tmp_path / "bundle"
    argv = ("export", "--version", degraded.version, "--out", str(out))
    assert cli(mlflow_server.uri, model_name, *argv) == ExitCode.REFUSED
    assert "never validated" in capsys.readouterr().err
    assert not validate(pr, None, degraded.version, None).passed
    assert cli(mlflow_server.uri, model_name, *argv) == ExitCode.REFUSED
    err = capsys.readouterr().err.strip()
    assert err == (
        f"mlship: error: version {degraded.version} of '{model_name}' is not exportable "
        "(gate=failed): only a version that passed the gate becomes a bundle"
    )
    assert list(tmp_path.iterdir()) == []
    assert cli(mlflow_server.uri, model_name, "export", "--version", "99", "--out", str(out)) == 4
    assert list(tmp_path.iterdir()) == []


def _answers(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
        return bool(response.status == 200)


def test_an_unreadable_baseline_fails_closed_and_forks_say_why_there_is_none(
    mlflow_server: MlflowServer,
    model_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pr = settings(mlflow_server.uri, model_name, git_sha=FIRST_SHA)
    trained = train_and_register(pr)
    client = registry(mlflow_server.uri)
    capsys.readouterr()  # MLflow's own lines about the registration

    gone = f"http://reader:s3cret@127.0.0.1:{free_port()}"  # pragma: allowlist secret
    with pytest.raises(TrackingServerUnreachableError, match="baseline registry"):
        validate(
            pr.model_copy(update={"baseline_uri": gone, "connect_timeout_seconds": 1}),
            None,
            trained.version,
            None,
        )
    code = cli(
        mlflow_server.uri,
        model_name,
        "validate",
        "--version",
        trained.version,
        "--baseline-uri",
        gone,
        "--connect-timeout",
        "1",
    )
    assert code == ExitCode.UNREACHABLE
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"mlship: error: baseline registry {gone.replace('reader:s3cret@', '')}")
    assert "s3cret" not in err
    assert "gate" not in client.get_model_version(model_name, trained.version).tags
    assert aliases(mlflow_server.uri, model_name) == {}

    # A server that answers but is no MLflow registry (a wrong URL): not "no production".
    port = free_port()
    web = processes.spawn(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        tmp_path / "http.log",
    )
    try:
        wait_until(lambda: _answers(port), timeout=30, what="http.server")
        argv = (
            "validate",
            "--version",
            trained.version,
            "--baseline-uri",
            f"http://127.0.0.1:{port}",
        )
        assert cli(mlflow_server.uri, model_name, *argv) == ExitCode.MLFLOW_ERROR
    finally:
        processes.stop(web)
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"mlship: error: baseline registry http://127.0.0.1:{port}: ")
    assert "gate" not in client.get_model_version(model_name, trained.version).tags
    assert aliases(mlflow_server.uri, model_name) == {}

    note = "fork pull request: no read access to the production registry; absolute checks only"
    report = validate(pr.model_copy(update={"baseline_note": note}), None, trained.version, None)
    assert report.passed
    assert report.production_registry == mlflow_server.uri
    assert f"Note: {note}" in report.to_markdown()
    assert "absolute checks only" in report.to_markdown()
