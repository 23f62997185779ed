"""Run the gate on a registered version: gather facts, decide, report, set ``challenger``."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlship.model.catalog import select
from mlship.model.connection import connect
from mlship.model.errors import MlshipError
from mlship.model.gate import CandidateFacts, GateReport, decide
from mlship.model.gate_facts import gather_facts
from mlship.model.reachability import wait_for_tracking_server
from mlship.model.registry_io import (
    alias_version,
    get_version,
    latest_version,
    name_filter,
    set_alias,
)
from mlship.model.settings import Settings
from mlship.model.spec import ModelSpec
from mlship.model.thresholds import GatePolicy
from mlship.model.uris import public_uri

REPORT_JSON = "gate_report.json"
REPORT_MARKDOWN = "gate_report.md"


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
        return gather_facts(client, settings.tracking_uri, name, production)
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
        return gather_facts(baseline, uri, name, production)
    except (MlflowException, OSError) as error:
        # Fail closed: a baseline we cannot read must not turn into "no production".
        message = error.message if isinstance(error, MlflowException) else str(error)
        first_line = (message or type(error).__name__).strip().splitlines()[0]
        raise MlshipError(f"baseline registry {public_uri(uri)}: {first_line}") from None


def validate(
    settings: Settings,
    policy: GatePolicy | None,
    version: str | None,
    report_dir: Path | None,
    spec: ModelSpec | None = None,
) -> GateReport:
    """Gate ``version`` (latest when None); on pass point ``challenger`` at it.

    ``spec`` (None: the one ``settings`` selects) gives the data of the test split and,
    unless ``policy`` replaces it, the gate policy. ``production`` comes from
    ``settings.baseline_uri`` when set (nothing is written there), else from the
    tracking server; it is read first, so a baseline that cannot be read fails the
    gate before any tag or alias is written.
    """
    if spec is None:
        spec, settings = select(settings)
    policy = policy or spec.gate
    client = connect(settings)
    name = settings.model_name
    production = _production_facts(settings, client)
    candidate_version = (
        get_version(client, name, version) if version else latest_version(client, name)
    )
    candidate = gather_facts(client, settings.tracking_uri, name, candidate_version, spec=spec)
    report = decide(
        policy,
        name,
        candidate,
        production,
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
        set_alias(client, name, "challenger", candidate.version)
    return report
