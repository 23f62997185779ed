"""Fit a specification's pipeline, log everything to MLflow and register a new version.

The model directory is saved locally first so that its served form (``model.onnx``
and ``metadata.serving``) is part of it before it is logged and registered.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import mlflow
import mlflow.sklearn
from mlflow.models import infer_signature
from sklearn.pipeline import Pipeline

from mlship.model.catalog import select
from mlship.model.connection import connect
from mlship.model.data import Dataset, Split, load_dataset, smoke_frame, split_dataset
from mlship.model.estimators import build_pipeline
from mlship.model.evaluation import Evaluation, confusion_figure, evaluate
from mlship.model.manifest import MODEL_DIR
from mlship.model.metadata import model_metadata
from mlship.model.registry_io import create_version
from mlship.model.served_form import add_served_form
from mlship.model.settings import Settings
from mlship.model.spec import ModelSpec

# Packages a serving environment needs to load the logged model. Listed explicitly:
# inferring them would re-import the model in a subprocess on every training run.
_SERVING_PACKAGES = ("mlflow", "scikit-learn", "numpy", "pandas", "skops", "onnxruntime")
# skops loads only the types it is told to trust; tree models (a forest too) hold these.
SKOPS_TRUSTED_TYPES = ["sklearn.tree._tree.Tree"]


@dataclass(frozen=True)
class TrainResult:
    model_name: str
    spec: str  # the declared model trained (its specification's name)
    version: str
    run_id: str
    experiment_id: str
    metrics: dict[str, float]
    data_sha256: str
    git_sha: str


def fit(spec: ModelSpec, dataset: Dataset, split: Split) -> tuple[Pipeline, Evaluation]:
    pipeline = build_pipeline(spec.pipeline_steps(), spec.split.seed)
    pipeline.fit(split.train_features, split.train_target)
    return pipeline, evaluate(pipeline, split.test_features, split.test_target, dataset.class_names)


def resolve_git_sha(settings: Settings) -> str:
    """The commit trained from: the environment's (CI), else the checkout's, else ``unknown``."""
    if settings.git_sha:
        return settings.git_sha
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return completed.stdout.strip() or "unknown"


def serving_requirements() -> list[str]:
    pins = []
    for package in _SERVING_PACKAGES:
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            continue
    return pins


def _params(spec: ModelSpec, split: Split, data_sha256: str) -> dict[str, object]:
    """The run's params: the split the gate rebuilds, and every step's parameters."""
    params: dict[str, object] = {
        "spec": spec.name,
        "contract_version": spec.contract_version,
        "estimator": "+".join(step.estimator.rpartition(".")[2] for step in spec.pipeline),
        "seed": spec.split.seed,
        "test_size": spec.split.test_size,
        "train_rows": len(split.train_target),
        "test_rows": len(split.test_target),
        "data_sha256": data_sha256,
    }
    for step in spec.pipeline:
        # The classifier's own parameters keep their plain names (`C`, `n_estimators`).
        prefix = "" if step is spec.pipeline[-1] else f"{step.name}."
        params.update({f"{prefix}{key}": value for key, value in step.params.items()})
    return params


def train_and_register(settings: Settings, spec: ModelSpec | None = None) -> TrainResult:
    """Train ``spec`` (None: the one ``settings`` selects) and register a new version."""
    if spec is None:
        spec, settings = select(settings)
    client = connect(settings)
    dataset = load_dataset(spec)
    split = split_dataset(dataset, test_size=spec.split.test_size, seed=spec.split.seed)
    pipeline, evaluation = fit(spec, dataset, split)
    git_sha = resolve_git_sha(settings)
    pull_request = settings.pull_request()
    provenance = {"git_sha": git_sha, "data_sha256": dataset.sha256}
    if pull_request:
        provenance["pr"] = pull_request

    experiment = mlflow.set_experiment(settings.experiment_name)
    with mlflow.start_run(run_name=f"train-{settings.model_name}") as run:
        mlflow.set_tags({**provenance, "model_name": settings.model_name})
        mlflow.log_params(_params(spec, split, dataset.sha256))
        mlflow.log_metrics(evaluation.metrics)
        mlflow.log_figure(
            confusion_figure(evaluation.confusion, dataset.class_names), "confusion_matrix.png"
        )
        mlflow.log_text(evaluation.report_text, "classification_report.txt")
        mlflow.log_dict(evaluation.report_dict, "classification_report.json")
        # The smoke sample is the input example too: real rows the model must get right.
        example = smoke_frame(spec)
        with tempfile.TemporaryDirectory(prefix="mlship-train-") as scratch:
            model_dir = Path(scratch) / MODEL_DIR
            mlflow.sklearn.save_model(
                pipeline,
                str(model_dir),
                signature=infer_signature(example, pipeline.predict(example)),
                input_example=example,
                metadata=model_metadata(split.train_features, spec),
                pip_requirements=serving_requirements(),
                skops_trusted_types=SKOPS_TRUSTED_TYPES,
            )
            add_served_form(
                model_dir, pipeline, split.train_features.shape[1], sample=split.train_features
            )
            mlflow.log_artifacts(str(model_dir), artifact_path=MODEL_DIR)
    model_version = create_version(client, settings.model_name, run.info.run_id, provenance)
    return TrainResult(
        model_name=settings.model_name,
        spec=spec.name,
        version=model_version,
        run_id=run.info.run_id,
        experiment_id=experiment.experiment_id,
        metrics=evaluation.metrics,
        data_sha256=dataset.sha256,
        git_sha=git_sha,
    )
