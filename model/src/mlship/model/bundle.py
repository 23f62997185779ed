"""Build once, promote that artifact: export a gated version as a bundle, register a bundle.

A bundle is a directory: ``model/`` (the MLflow model directory), the gate's report
(``gate_report.json``/``.md``) and ``manifest.json`` (lineage and a SHA-256 per file).
A pull request exports the version it gated; delivery verifies the bundle and
registers exactly those bytes in the persistent registry, where it is gated again.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import mlflow.artifacts
from mlflow.entities import Metric, Param, RunStatus
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlship.model.connection import connect
from mlship.model.errors import RefusedError
from mlship.model.gate import GateReport
from mlship.model.manifest import (
    MANIFEST,
    MODEL_DIR,
    VerifiedBundle,
    require_new_directory,
    verify_bundle,
    write_manifest,
)
from mlship.model.registry_io import create_version, download_model, get_version
from mlship.model.settings import Settings
from mlship.model.uris import public_uri
from mlship.model.validation import write_report


@dataclass(frozen=True)
class Registration:
    model_name: str
    version: str
    run_id: str
    bundle_sha256: str
    created: bool  # False: a version with this bundle_sha256 already existed


def _gate_report(settings: Settings, version: ModelVersion) -> GateReport:
    """The report that gated ``version``: its ``gate_report`` tag, else the run's artifact."""
    try:
        return GateReport.from_dict(json.loads(version.tags["gate_report"]))
    except (KeyError, TypeError, ValueError):
        pass  # no readable tag (older or hand-made versions): the run keeps the report too
    try:
        with tempfile.TemporaryDirectory(prefix="mlship-gate-") as scratch:
            path = mlflow.artifacts.download_artifacts(
                run_id=version.run_id,
                artifact_path="gate/gate_report.json",
                dst_path=scratch,
                tracking_uri=settings.tracking_uri,
            )
            return GateReport.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (MlflowException, OSError, KeyError, TypeError, ValueError):
        raise RefusedError(
            f"version {version.version} of {version.name!r} has no readable gate report"
        ) from None


def _exportable(client: MlflowClient, name: str, version: str) -> ModelVersion:
    model_version = get_version(client, name, version)
    gate = model_version.tags.get("gate")
    if gate != "passed":
        state = f"gate={gate}" if gate else "never validated"
        raise RefusedError(
            f"version {version} of {name!r} is not exportable ({state}): "
            f"only a version that passed the gate becomes a bundle"
        )
    missing = [tag for tag in ("git_sha", "data_sha256") if not model_version.tags.get(tag)]
    if not model_version.run_id or missing:
        lacks = ", ".join(missing or ["a run"])
        raise RefusedError(f"version {version} of {name!r} lacks {lacks}: lineage unknown")
    return model_version


def _fill(client: MlflowClient, settings: Settings, version: ModelVersion, target: Path) -> None:
    """Write the model, the gate report and the manifest of ``version`` into ``target``."""
    name = settings.model_name
    run_id = str(version.run_id)  # _exportable refused a version without a run
    report = _gate_report(settings, version)
    if not report.passed or report.version != version.version:
        raise RefusedError(
            f"the gate report of version {version.version} of {name!r} does not record a pass "
            "of that version; validate it again"
        )
    with tempfile.TemporaryDirectory(prefix="mlship-model-", dir=target) as download:
        local = download_model(client, settings.tracking_uri, version, Path(download))
        local.rename(target / MODEL_DIR)
    write_report(report, target)
    run = client.get_run(run_id)
    write_manifest(
        target,
        {
            "model_name": name,
            "source_version": version.version,
            "source_tracking_uri": public_uri(settings.tracking_uri),
            "run_id": run_id,
            "git_sha": version.tags["git_sha"],
            "pr": version.tags.get("pr") or None,
            "data_sha256": version.tags["data_sha256"],
            "gate": "passed",
            "metrics": dict(run.data.metrics),
            # The split (seed, test_size) travels too: the gate rebuilds it for onnx_parity.
            "params": dict(run.data.params),
        },
    )


def export_bundle(settings: Settings, version: str, out: Path) -> VerifiedBundle:
    """Write the bundle of ``version`` to ``out`` (new or empty); refuse unless it passed."""
    require_new_directory(out)
    client = connect(settings)
    model_version = _exportable(client, settings.model_name, version)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Built beside ``out`` and renamed into place: a failure leaves no half bundle there.
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        _fill(client, settings, model_version, scratch)
        if out.exists():
            out.rmdir()  # empty, checked above
        scratch.rename(out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return verify_bundle(out)


def _existing(client: MlflowClient, name: str, bundle_sha256: str) -> ModelVersion | None:
    quoted = name.replace("'", "\\'")
    found = client.search_model_versions(
        f"name = '{quoted}' and tags.bundle_sha256 = '{bundle_sha256}'"
    )
    return min(found, key=lambda version: int(version.version), default=None)


def _lineage_tags(bundle: VerifiedBundle) -> dict[str, str]:
    manifest = bundle.manifest
    tags = {
        "git_sha": manifest["git_sha"],
        "data_sha256": manifest["data_sha256"],
        "bundle_sha256": bundle.bundle_sha256,
        "source": f"{manifest['source_tracking_uri']} version {manifest['source_version']}",
    }
    if manifest["pr"]:
        tags["pr"] = manifest["pr"]
    return tags


def _log_run(client: MlflowClient, settings: Settings, bundle: VerifiedBundle) -> str:
    """A run holding the bundle's metrics, params, lineage tags and model; returns its id."""
    experiment = client.get_experiment_by_name(settings.experiment_name)
    experiment_id = (
        experiment.experiment_id
        if experiment is not None
        else client.create_experiment(settings.experiment_name)
    )
    manifest = bundle.manifest
    run = client.create_run(
        experiment_id,
        tags={**_lineage_tags(bundle), "model_name": settings.model_name},
        run_name=f"register-{settings.model_name}-bundle",
    )
    run_id: str = run.info.run_id
    try:
        now = int(time.time() * 1000)
        metrics = [Metric(key, float(value), now, 0) for key, value in manifest["metrics"].items()]
        params = [Param(key, str(value)) for key, value in manifest["params"].items()]
        client.log_batch(run_id, metrics=metrics, params=params)
        client.log_artifacts(run_id, str(bundle.directory / MODEL_DIR), artifact_path=MODEL_DIR)
        # The source's gate report and the manifest, for lineage; the new gate writes gate/.
        for name in (MANIFEST, "gate_report.json", "gate_report.md"):
            client.log_artifact(run_id, str(bundle.directory / name), artifact_path="bundle")
    except BaseException:
        client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
        raise
    client.set_terminated(run_id)
    return run_id


def register_bundle(settings: Settings, directory: Path) -> Registration:
    """Verify the bundle, then register it (once: a known bundle returns its version)."""
    bundle = verify_bundle(directory)
    name = settings.model_name
    if bundle.manifest["model_name"] != name:
        raise RefusedError(
            f"bundle {directory} holds {bundle.manifest['model_name']!r}, not {name!r} "
            "(--model-name / MODEL_NAME)"
        )
    client = connect(settings)
    known = _existing(client, name, bundle.bundle_sha256)
    if known is not None:
        return Registration(name, known.version, known.run_id or "", bundle.bundle_sha256, False)
    run_id = _log_run(client, settings, bundle)
    # No `gate` tag: the version is gated again here, against this registry's production.
    version = create_version(client, name, run_id, _lineage_tags(bundle))
    return Registration(name, version, run_id, bundle.bundle_sha256, True)
