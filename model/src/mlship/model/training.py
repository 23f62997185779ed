"""Fit the Iris pipeline, log everything to MLflow and register a new model version."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

import mlflow
import mlflow.sklearn
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mlship.model.connection import connect
from mlship.model.data import Dataset, Split, load_dataset, split_dataset
from mlship.model.evaluation import Evaluation, confusion_figure, evaluate
from mlship.model.metadata import model_metadata
from mlship.model.settings import Settings

# Packages a serving environment needs to load the logged model. Listed explicitly:
# inferring them would re-import the model in a subprocess on every training run.
_SERVING_PACKAGES = ("mlflow", "scikit-learn", "numpy", "pandas", "skops")


@dataclass(frozen=True)
class TrainResult:
    model_name: str
    version: str
    run_id: str
    experiment_id: str
    metrics: dict[str, float]
    data_sha256: str
    git_sha: str


def build_pipeline(settings: Settings) -> Pipeline:
    return Pipeline(
        [
            ("scaler", StandardScaler()),
            (
                "classifier",
                LogisticRegression(
                    C=settings.c, max_iter=settings.max_iter, random_state=settings.seed
                ),
            ),
        ]
    )


def fit(settings: Settings, dataset: Dataset, split: Split) -> tuple[Pipeline, Evaluation]:
    pipeline = build_pipeline(settings).fit(split.train_features, split.train_target)
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


def train_and_register(settings: Settings) -> TrainResult:
    client = connect(settings)
    dataset = load_dataset()
    split = split_dataset(dataset, test_size=settings.test_size, seed=settings.seed)
    pipeline, evaluation = fit(settings, dataset, split)
    git_sha = resolve_git_sha(settings)
    pull_request = settings.pull_request()
    provenance = {"git_sha": git_sha, "data_sha256": dataset.sha256}
    if pull_request:
        provenance["pr"] = pull_request

    experiment = mlflow.set_experiment(settings.experiment_name)
    with mlflow.start_run(run_name=f"train-{settings.model_name}") as run:
        mlflow.set_tags({**provenance, "model_name": settings.model_name})
        mlflow.log_params(
            {
                "estimator": "StandardScaler+LogisticRegression",
                "C": settings.c,
                "max_iter": settings.max_iter,
                "seed": settings.seed,
                "test_size": settings.test_size,
                "train_rows": len(split.train_target),
                "test_rows": len(split.test_target),
                "data_sha256": dataset.sha256,
            }
        )
        mlflow.log_metrics(evaluation.metrics)
        mlflow.log_figure(
            confusion_figure(evaluation.confusion, dataset.class_names), "confusion_matrix.png"
        )
        mlflow.log_text(evaluation.report_text, "classification_report.txt")
        mlflow.log_dict(evaluation.report_dict, "classification_report.json")
        example = split.train_features.head(3)
        model_info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=infer_signature(example, pipeline.predict(example)),
            input_example=example,
            metadata=model_metadata(split.train_features, dataset.class_names),
            pip_requirements=serving_requirements(),
            registered_model_name=settings.model_name,
        )
    model_version = str(model_info.registered_model_version)
    for key, value in provenance.items():
        client.set_model_version_tag(settings.model_name, model_version, key, value)
    return TrainResult(
        model_name=settings.model_name,
        version=model_version,
        run_id=run.info.run_id,
        experiment_id=experiment.experiment_id,
        metrics=evaluation.metrics,
        data_sha256=dataset.sha256,
        git_sha=git_sha,
    )
