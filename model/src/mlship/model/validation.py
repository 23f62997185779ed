"""Run the gate on a registered version: gather facts, decide, report, set ``challenger``."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import mlflow.artifacts
import mlflow.pyfunc
import mlflow.sklearn
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.tracking import MlflowClient

from mlship.model.connection import connect
from mlship.model.data import SMOKE_EXPECTED, Split, load_dataset, smoke_frame, split_dataset
from mlship.model.errors import MlshipError
from mlship.model.gate import CandidateFacts, GateReport, ParityFacts, decide
from mlship.model.reachability import wait_for_tracking_server
from mlship.model.registry_io import (
    alias_version,
    download_model,
    get_version,
    latest_version,
    name_filter,
)
from mlship.model.served_form import ONNX_FILE, one_line, open_session, parity, serving_metadata
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


def _test_split(params: dict[str, str], data_sha256: str | None) -> Split | str:
    """The training run's test split, or why it cannot be rebuilt."""
    dataset = load_dataset()
    if data_sha256 != dataset.sha256:
        return (
            f"data_sha256 {data_sha256} is not this data set's {dataset.sha256[:16]}...: "
            "the test split cannot be rebuilt"
        )
    try:
        return split_dataset(
            dataset, test_size=float(params["test_size"]), seed=int(params["seed"])
        )
    except KeyError as error:
        return f"the training run's split is unknown (no {error} param)"
    except ValueError as error:
        return f"the training run's split is unknown ({error})"


def _onnx_problem(model_dir: Path, serving: dict[str, Any]) -> str | None:
    """Why ``metadata.serving`` of an ONNX form cannot be checked, None when it can."""
    name = str(serving.get("onnx_model", ONNX_FILE))
    if serving.get("runtime") != "onnx":
        return f"unknown serving runtime {serving.get('runtime')!r}"
    if serving.get("input_dtype") not in ("float64", "float32") or "/" in name:
        return f"metadata.serving is not understood: {serving}"
    if not (model_dir / name).is_file():
        return f"metadata.serving names {name}, which is missing from the model directory"
    return None


def parity_facts(model_dir: Path, params: dict[str, str], data_sha256: str | None) -> ParityFacts:
    """The served form of ``model_dir`` against its scikit-learn form on the test split.

    The split is rebuilt from the training run's ``seed`` and ``test_size``, and only
    when the data set is the one the version records (``data_sha256``): parity on other
    rows would say nothing about the rows the version was tested on.
    """
    serving = serving_metadata(model_dir)
    if serving is None:
        return ParityFacts(None)
    runtime, dtype = str(serving.get("runtime")), str(serving.get("input_dtype", "float64"))
    if runtime == "sklearn":
        return ParityFacts(runtime, dtype, reason=str(serving.get("reason") or "not given"))
    split = _test_split(params, data_sha256)
    problem = _onnx_problem(model_dir, serving) or (split if isinstance(split, str) else None)
    if problem is not None or isinstance(split, str):
        return ParityFacts(runtime, dtype, problem=problem)
    try:
        estimator = mlflow.sklearn.load_model(str(model_dir))
        session = open_session(model_dir / str(serving.get("onnx_model", ONNX_FILE)))
        found = parity(estimator, session, split.test_features, dtype)
    except Exception as error:  # a form that cannot load or run fails the check
        return ParityFacts(runtime, dtype, problem=f"forms not compared: {one_line(error)}")
    return ParityFacts(
        runtime,
        dtype,
        rows=found.rows,
        disagreeing_rows=found.disagreeing_rows,
        max_abs_diff=found.max_abs_diff,
    )


def _smoke(model_dir: Path, class_names: list[str] | None) -> tuple[list[str] | None, str | None]:
    """Class names the model predicts for the smoke sample, or why it could not."""
    try:
        model = mlflow.pyfunc.load_model(str(model_dir))
        predicted = [
            item.item() if hasattr(item, "item") else item for item in model.predict(smoke_frame())
        ]
    except Exception as error:  # a model that cannot load or predict fails the smoke check
        return None, f"{type(error).__name__}: {error}"
    return _class_names(predicted, class_names), None


def gather_facts(
    client: MlflowClient,
    tracking_uri: str,
    model_name: str,
    version: ModelVersion,
    *,
    with_smoke: bool,
) -> CandidateFacts:
    """Metrics and signature; with ``with_smoke`` also the smoke predictions and parity."""
    run = client.get_run(version.run_id) if version.run_id else None
    metrics = dict(run.data.metrics) if run else {}
    # The MLmodel file alone answers the signature question: no model download for that.
    info = read_mlmodel(client, tracking_uri, model_name, version.version)
    schema = info.signature.inputs.to_dict() if info.signature is not None else None
    facts = CandidateFacts(version.version, version.run_id or "", metrics, schema)
    if not with_smoke:
        return facts
    class_names = (info.metadata or {}).get("class_names")
    with tempfile.TemporaryDirectory(prefix="mlship-gate-model-") as scratch:
        try:
            model_dir = download_model(client, tracking_uri, version, Path(scratch))
        except Exception as error:  # an undownloadable model fails both checks
            problem = f"model not downloaded: {one_line(error)}"
            return replace(
                facts, smoke_error=problem, parity=ParityFacts("unknown", problem=problem)
            )
        predictions, smoke_error = _smoke(model_dir, class_names)
        params = dict(run.data.params) if run else {}
        served = parity_facts(model_dir, params, version.tags.get("data_sha256"))
    return replace(facts, smoke_predictions=predictions, smoke_error=smoke_error, parity=served)


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
