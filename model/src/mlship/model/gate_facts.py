"""What the gate knows about a registered version: metrics, signature, smoke, ONNX parity.

Gathered from the registry and the version's own model directory: the smoke sample
and the contract version come from the model's metadata (what it carries), the test
split for ``onnx_parity`` from its specification's data and the run's split params.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import mlflow.artifacts
import mlflow.pyfunc
import mlflow.sklearn
import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from mlflow.models import Model
from mlflow.tracking import MlflowClient

from mlship.model.data import Split, load_dataset, split_dataset
from mlship.model.errors import MlshipError
from mlship.model.gate import CandidateFacts, ParityFacts
from mlship.model.registry_io import download_model
from mlship.model.served_form import ONNX_FILE, one_line, open_session, parity, serving_metadata
from mlship.model.spec import ModelSpec


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


def _test_split(spec: ModelSpec, params: dict[str, str], data_sha256: str | None) -> Split | str:
    """The training run's test split, or why it cannot be rebuilt."""
    try:
        dataset = load_dataset(spec)
    except MlshipError as error:  # e.g. a data file that no longer matches its pin
        return f"the test split cannot be rebuilt: {error}"
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


def parity_facts(
    model_dir: Path, spec: ModelSpec, params: dict[str, str], data_sha256: str | None
) -> ParityFacts:
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
    split = _test_split(spec, params, data_sha256)
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


_Sample = tuple[pd.DataFrame, list[str], list[str]]


def _smoke_sample(metadata: dict[str, Any]) -> _Sample | str:
    """The rows, expected class names and class names of the model's own smoke sample,
    or what is wrong with it."""
    sample, names = metadata.get("smoke_sample"), metadata.get("class_names")
    features = metadata.get("feature_names")
    if not isinstance(sample, dict) or not isinstance(names, list):
        return "the model carries no smoke sample (metadata.smoke_sample): retrain"
    try:
        frame = pd.DataFrame(sample["inputs"], columns=features, dtype="float64")
        expected = [str(names[index]) for index in sample["expected"]]
    except (KeyError, IndexError, TypeError, ValueError) as error:
        return f"metadata.smoke_sample is not understood: {one_line(error)}"
    return frame, expected, [str(name) for name in names]


def _smoke(model_dir: Path, frame: pd.DataFrame, class_names: list[str]) -> list[str]:
    """Class names the model predicts for ``frame`` (labels are indices into the names)."""
    model = mlflow.pyfunc.load_model(str(model_dir))
    predicted = [item.item() if hasattr(item, "item") else item for item in model.predict(frame)]
    return _class_names(predicted, class_names)


def gather_facts(
    client: MlflowClient,
    tracking_uri: str,
    model_name: str,
    version: ModelVersion,
    *,
    spec: ModelSpec | None = None,
) -> CandidateFacts:
    """Metrics, signature and contract version; with ``spec`` (the candidate's) also the
    smoke predictions and ONNX parity, which need the model itself."""
    run = client.get_run(version.run_id) if version.run_id else None
    metrics = dict(run.data.metrics) if run else {}
    # The MLmodel file alone answers the signature question: no model download for that.
    info = read_mlmodel(client, tracking_uri, model_name, version.version)
    schema = info.signature.inputs.to_dict() if info.signature is not None else None
    metadata = dict(info.metadata or {})
    facts = CandidateFacts(
        version.version,
        version.run_id or "",
        metrics,
        schema,
        contract_version=int(metadata.get("contract_version", 1)),
    )
    if spec is None:
        return facts
    sample = _smoke_sample(metadata)
    if isinstance(sample, str):
        facts = replace(facts, smoke_expected=[], smoke_error=sample)
    else:
        facts = replace(facts, smoke_expected=sample[1])
    with tempfile.TemporaryDirectory(prefix="mlship-gate-model-") as scratch:
        try:
            model_dir = download_model(client, tracking_uri, version, Path(scratch))
        except Exception as error:  # an undownloadable model fails both checks
            problem = f"model not downloaded: {one_line(error)}"
            return replace(
                facts, smoke_error=problem, parity=ParityFacts("unknown", problem=problem)
            )
        if not isinstance(sample, str):
            try:
                predicted = _smoke(model_dir, sample[0], sample[2])
                facts = replace(facts, smoke_predictions=predicted)
            except Exception as error:  # a model that cannot load or predict fails smoke
                facts = replace(facts, smoke_error=one_line(error))
        params = dict(run.data.params) if run else {}
        served = parity_facts(model_dir, spec, params, version.tags.get("data_sha256"))
    return replace(facts, parity=served)
