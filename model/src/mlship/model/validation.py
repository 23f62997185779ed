"""Run the gate on a registered version: gather facts, decide, report, set ``challenger``."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import mlflow.artifacts
import mlflow.pyfunc
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.tracking import MlflowClient

from mlship.model.connection import connect
from mlship.model.data import SMOKE_EXPECTED, smoke_frame
from mlship.model.errors import MlshipError
from mlship.model.gate import CandidateFacts, GateReport, decide
from mlship.model.reachability import wait_for_tracking_server
from mlship.model.registry_io import alias_version, get_version, latest_version, name_filter
from mlship.model.settings import Settings
from mlship.model.thresholds import GatePolicy
from mlship.model.uris import public_uri

REPORT_JSON = "gate_report.json"
REPORT_MARKDOWN = "gate_report.md"


def _class_names(predicted: list[Any], class_names: list[str] | None) -> list[str]:
    """Predicted labels as class names (labels are indices into ``class_names``)."""
    names = []
    for label in predicted:
        if class_names is not None and isinstance(label, int) and 0 <= label < len(class_names):
            names.append(class_names[label])
        else:
            names.append(str(label))
    return names


def read_mlmodel(client: MlflowClient, tracking_uri: str, name: str, version: str) -> Model:
    """The version's MLmodel file, read from ``client``'s registry.

    ``models:/`` URIs resolve through MLflow's process-wide registry URI; the gate reads
    two registries, so the file is located through the given client instead.
    """
    location = client.get_model_version_download_uri(name, version).rstrip("/")
    with tempfile.TemporaryDirectory(prefix="mlship-mlmodel-") as scratch:
        path = mlflow.artifacts.download_artifacts(
            artifact_uri=f"{location}/MLmodel", dst_path=scratch, tracking_uri=tracking_uri
        )
        return Model.load(path)


def gather_facts(
    client: MlflowClient,
    tracking_uri: str,
    model_name: str,
    version: ModelVersion,
    *,
    with_smoke: bool,
) -> CandidateFacts:
    run_id = version.run_id or ""
    metrics = dict(client.get_run(run_id).data.metrics) if run_id else {}
    uri = f"models:/{model_name}/{version.version}"
    # The MLmodel file alone answers the signature question: no model download for that.
    info = read_mlmodel(client, tracking_uri, model_name, version.version)
    schema = info.signature.inputs.to_dict() if info.signature is not None else None
    facts = CandidateFacts(version.version, run_id, metrics, schema)
    if not with_smoke:
        return facts
    class_names = (info.metadata or {}).get("class_names")
    try:
        model = mlflow.pyfunc.load_model(uri)
        predicted = [
            item.item() if hasattr(item, "item") else item for item in model.predict(smoke_frame())
        ]
    except Exception as error:  # a model that cannot load or predict fails the smoke check
        return replace(facts, smoke_error=f"{type(error).__name__}: {error}")
    return replace(facts, smoke_predictions=_class_names(predicted, class_names))


def write_report(report: GateReport, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / REPORT_JSON
    markdown_path = directory / REPORT_MARKDOWN
    json_path.write_text(_pretty(report.to_dict()), encoding="utf-8")
    markdown_path.write_text(report.to_markdown(), encoding="utf-8")
    return json_path, markdown_path


def _pretty(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _production_facts(settings: Settings, client: MlflowClient) -> CandidateFacts | None:
    """Production's facts from the baseline registry (read only), else from ``client``'s."""
    name = settings.model_name
    if settings.baseline_uri is None:
        production = alias_version(client, name, "production")
        if production is None:
            return None
        return gather_facts(client, settings.tracking_uri, name, production, with_smoke=False)
    uri = settings.baseline_uri
    wait_for_tracking_server(
        uri,
        settings.connect_timeout_seconds,
        role="baseline registry",
        hint="check --baseline-uri / MLSHIP_BASELINE_URI; nothing gated, no tag written",
    )
    baseline = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        # Anything that is not an MLflow registry answers "not found" to an alias look-up;
        # that must not read as "no production", so the registry has to answer a search
        # first. The search also tells a model the registry does not hold yet, which an
        # authenticated registry answers with "permission denied" to an alias look-up.
        if not baseline.search_registered_models(filter_string=name_filter(name), max_results=1):
            return None
        production = alias_version(baseline, name, "production")
        if production is None:
            return None
        return gather_facts(baseline, uri, name, production, with_smoke=False)
    except (MlflowException, OSError) as error:
        # Fail closed: a baseline we cannot read must not turn into "no production".
        message = error.message if isinstance(error, MlflowException) else str(error)
        first_line = (message or type(error).__name__).strip().splitlines()[0]
        raise MlshipError(f"baseline registry {public_uri(uri)}: {first_line}") from None


def validate(
    settings: Settings, policy: GatePolicy, version: str | None, report_dir: Path | None
) -> GateReport:
    """Gate ``version`` (latest when None); on pass point ``challenger`` at it.

    ``production`` comes from ``settings.baseline_uri`` when set (nothing is written
    there), else from the tracking server; it is read first, so a baseline that cannot
    be read fails the gate before any tag or alias is written.
    """
    client = connect(settings)
    name = settings.model_name
    production = _production_facts(settings, client)
    candidate_version = (
        get_version(client, name, version) if version else latest_version(client, name)
    )
    candidate = gather_facts(
        client, settings.tracking_uri, name, candidate_version, with_smoke=True
    )
    report = decide(
        policy,
        name,
        candidate,
        production,
        list(SMOKE_EXPECTED),
        production_registry=public_uri(settings.baseline_uri or settings.tracking_uri),
        baseline_note=None if settings.baseline_uri else settings.baseline_note,
    )

    with tempfile.TemporaryDirectory(prefix="mlship-gate-") as scratch:
        paths = write_report(report, report_dir or Path(scratch))
        if candidate.run_id:
            for path in paths:
                client.log_artifact(candidate.run_id, str(path), artifact_path="gate")
            client.set_tag(candidate.run_id, "gate", "passed" if report.passed else "failed")
    status = "passed" if report.passed else "failed"
    client.set_model_version_tag(name, candidate.version, "gate", status)
    client.set_model_version_tag(name, candidate.version, "gate_report", report.compact_json())
    if report.passed:
        client.set_registered_model_alias(name, "challenger", candidate.version)
    return report
