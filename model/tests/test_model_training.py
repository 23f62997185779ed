"""Fitting, evaluation and the MLmodel metadata contract (no tracking server needed)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlship.model.catalog import Catalog
from mlship.model.data import load_dataset, split_dataset
from mlship.model.evaluation import confusion_figure
from mlship.model.metadata import model_metadata
from mlship.model.settings import Settings
from mlship.model.spec import ModelSpec
from mlship.model.training import fit, resolve_git_sha, serving_requirements

pytestmark = pytest.mark.unit

IRIS = Catalog.discover().get("IrisClassifier")
FOREST = Catalog.discover().get("BreastCancerForest")


def _fitted(spec: ModelSpec = IRIS):  # type: ignore[no-untyped-def]
    dataset = load_dataset(spec)
    split = split_dataset(dataset, test_size=spec.split.test_size, seed=spec.split.seed)
    pipeline, evaluation = fit(spec, dataset, split)
    return dataset, split, pipeline, evaluation


def test_default_training_meets_the_gate_and_logs_every_metric() -> None:
    _, _, pipeline, evaluation = _fitted()
    assert [name for name, _ in pipeline.steps] == ["scaler", "classifier"]
    metrics = evaluation.metrics
    assert metrics["accuracy"] >= 0.9
    assert metrics["f1_macro"] >= 0.9
    assert 0 < metrics["log_loss"] < 0.4
    for name in ("setosa", "versicolor", "virginica"):
        assert 0.0 <= metrics[f"precision_{name}"] <= 1.0
        assert 0.0 <= metrics[f"recall_{name}"] <= 1.0
    assert evaluation.confusion.sum() == 30
    assert "versicolor" in evaluation.report_text
    assert evaluation.report_dict["accuracy"] == pytest.approx(metrics["accuracy"])


def test_training_is_deterministic() -> None:
    first = _fitted()[3].metrics
    second = _fitted()[3].metrics
    assert first == second


def test_the_forest_meets_its_gate_and_is_seeded() -> None:
    _, _, pipeline, evaluation = _fitted(FOREST)
    forest = pipeline.named_steps["classifier"]
    assert (forest.n_estimators, forest.random_state) == (200, FOREST.split.seed)
    for name, rule in FOREST.gate.metrics.items():
        assert rule.better_or_equal(evaluation.metrics[name], rule.threshold), name
    assert _fitted(FOREST)[3].metrics == evaluation.metrics


def test_hyperparameters_reach_the_estimator() -> None:
    _, _, pipeline, evaluation = _fitted(IRIS.with_params({"C": 0.001, "max_iter": 50}))
    classifier = pipeline.named_steps["classifier"]
    assert classifier.C == 0.001
    assert classifier.max_iter == 50
    assert classifier.random_state == 42  # the split's seed, unless the params set one
    # Strong regularisation degrades the model: the gate's degraded candidate relies on it.
    assert evaluation.metrics["accuracy"] < 0.9


def test_metadata_contract() -> None:
    dataset, split, pipeline, _ = _fitted()
    metadata = model_metadata(split.train_features, IRIS)
    assert metadata["class_names"] == [dataset.class_names[i] for i in pipeline.classes_]
    quantiles = metadata["feature_quantiles"]
    assert list(quantiles) == list(split.train_features.columns)
    for feature, values in quantiles.items():
        assert len(values) == 9
        assert values == sorted(values)
        expected = np.quantile(split.train_features[feature], np.arange(1, 10) / 10)
        assert values == pytest.approx(expected.tolist())
    smoke = metadata["smoke_sample"]
    assert len(smoke["inputs"]) == len(smoke["expected"]) == len(IRIS.smoke)
    assert (metadata["contract_version"], metadata["spec"]) == (1, "IrisClassifier")
    predicted = pipeline.predict(
        pd.DataFrame(smoke["inputs"], columns=split.train_features.columns)
    )
    assert predicted.tolist() == smoke["expected"]


def test_confusion_matrix_renders_a_png() -> None:
    dataset, _, _, evaluation = _fitted()
    buffer = io.BytesIO()
    confusion_figure(evaluation.confusion, dataset.class_names).savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG")


def test_git_sha_prefers_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_git_sha(Settings(git_sha="abc123")) == "abc123"
    # CI (GitHub Actions, act) sets these: this case is about a checkout without them.
    monkeypatch.delenv("GITHUB_SHA", raising=False)
    monkeypatch.delenv("GIT_SHA", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert resolve_git_sha(Settings()) == "unknown"


def test_git_sha_of_this_checkout() -> None:
    sha = resolve_git_sha(Settings())
    assert sha == "unknown" or re.fullmatch(r"[0-9a-f]{40}", sha)


def test_serving_requirements_are_pinned() -> None:
    pins = serving_requirements()
    assert any(pin.startswith("mlflow==") for pin in pins)
    assert any(pin.startswith("scikit-learn==") for pin in pins)
    assert all("==" in pin for pin in pins)
