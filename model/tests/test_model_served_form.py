"""The served form (ONNX beside the sklearn flavor) and the gate's ``onnx_parity`` check.

Model directories are saved locally the way training saves them; the gate's facts are
gathered from them with ``parity_facts``, as ``validate`` does after downloading one.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import mlflow.sklearn
import numpy as np
import pytest
from mlflow.models import Model
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier

from mlship.model.catalog import Catalog
from mlship.model.data import load_dataset, split_dataset
from mlship.model.gate import CandidateFacts, Check, ParityFacts, decide
from mlship.model.gate_facts import parity_facts
from mlship.model.metadata import model_metadata
from mlship.model.served_form import ONNX_FILE, ServedFormError, add_served_form, compare
from mlship.model.thresholds import GatePolicy, policy_from
from mlship.model.training import SKOPS_TRUSTED_TYPES, fit

pytestmark = pytest.mark.unit

IRIS = Catalog.discover().get("IrisClassifier")
PARAMS = {"seed": "42", "test_size": "0.2"}
SPLIT = split_dataset(load_dataset(IRIS), test_size=0.2, seed=42)
SHA = load_dataset(IRIS).sha256


class ConstantClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A classifier skl2onnx has no converter for."""

    def fit(self, features: Any, target: Any) -> ConstantClassifier:
        self.classes_ = np.unique(target)
        return self

    def predict_proba(self, features: Any) -> Any:
        return np.full((len(features), len(self.classes_)), 1.0 / len(self.classes_))

    def predict(self, features: Any) -> Any:
        return self.classes_[self.predict_proba(features).argmax(axis=1)]


def saved(directory: Path, estimator: Any, *, serialization: str = "cloudpickle") -> Path:
    """``estimator`` saved as training saves a model, with the MLmodel metadata contract."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Saving scikit-learn models in the pickle")
        mlflow.sklearn.save_model(
            estimator,
            str(directory),
            input_example=SPLIT.train_features.head(2),
            metadata=model_metadata(SPLIT.train_features, IRIS),
            serialization_format=serialization,
            skops_trusted_types=SKOPS_TRUSTED_TYPES if serialization == "skops" else None,
        )
    return directory


def iris_pipeline(c: float = 1.0) -> Any:
    return fit(IRIS.with_params({"C": c}), load_dataset(IRIS), SPLIT)[0]


def gate_check(model_dir: Path, policy: GatePolicy | None = None, **changes: Any) -> Check:
    """The ``onnx_parity`` check the gate reports for ``model_dir``."""
    params, sha = changes.get("params", PARAMS), changes.get("sha", SHA)
    facts = parity_facts(model_dir, IRIS, params, sha)
    candidate = CandidateFacts("1", "r", {}, None, [], parity=facts, smoke_expected=[])
    report = decide(policy or IRIS.gate, "M", candidate, None)
    check = next(check for check in report.checks if check.kind == "onnx_parity")
    assert f"| onnx_parity | {'pass' if check.passed else '**FAIL**'} |" in report.to_markdown()
    return check


@pytest.fixture(scope="module")
def iris_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pipeline = iris_pipeline()
    directory = saved(tmp_path_factory.mktemp("iris") / "model", pipeline, serialization="skops")
    add_served_form(directory, pipeline, 4, sample=SPLIT.train_features)
    return directory


def test_iris_pipeline_is_served_by_onnx_in_float64(iris_dir: Path) -> None:
    metadata = Model.load(str(iris_dir / "MLmodel")).metadata or {}
    assert metadata["serving"] == {
        "runtime": "onnx",
        "onnx_model": ONNX_FILE,
        "input_name": "input",
        "input_dtype": "float64",
        "probabilities_output": "probabilities",
        "converter": "skl2onnx==1.20.0",
    }
    assert {"class_names", "feature_names", "feature_quantiles", "smoke_sample"} <= set(metadata)
    assert (iris_dir / ONNX_FILE).is_file()
    check = gate_check(iris_dir)
    assert check.passed, check.detail
    assert check.limit == 1e-6
    assert check.detail.startswith(f"float64 ONNX form on {len(SPLIT.test_target)} test rows")


def test_a_tree_ensemble_takes_the_float32_path_with_the_looser_tolerance(tmp_path: Path) -> None:
    # GradientBoosting converts with double inputs, but ONNX Runtime cannot load that form.
    booster = GradientBoostingClassifier(n_estimators=20, random_state=0)
    booster.fit(SPLIT.train_features, SPLIT.train_target)
    directory = saved(tmp_path / "model", booster)
    assert add_served_form(directory, booster, 4)["input_dtype"] == "float32"
    check = gate_check(directory)
    assert check.passed, check.detail
    assert check.limit == 1e-4
    looser = policy_from(
        {
            "metrics": {"accuracy": {"threshold": 0.0, "greater_is_better": True}},
            "onnx_parity": {"float32_tolerance": 2e-4},
        },
        "t",
    )
    assert gate_check(directory, looser).limit == 2e-4


def test_hist_gradient_boosting_is_served_by_onnx_or_says_why_not(tmp_path: Path) -> None:
    booster = HistGradientBoostingClassifier(max_iter=20, random_state=0)
    booster.fit(SPLIT.train_features, SPLIT.train_target)
    directory = saved(tmp_path / "model", booster)
    serving = add_served_form(directory, booster, 4, sample=SPLIT.train_features)
    check = gate_check(directory)
    assert check.passed, check.detail
    if serving["runtime"] == "onnx":
        assert serving["input_dtype"] == "float32"
    else:
        # skl2onnx 1.20 writes a Python bool into an int attribute, which onnx 1.23 refuses.
        assert "TreeEnsembleClassifier" in serving["reason"]
        assert check.detail.startswith("served by scikit-learn: no ONNX form (")


def test_an_unconvertible_estimator_is_served_by_sklearn_and_the_check_says_so(
    tmp_path: Path,
) -> None:
    estimator = ConstantClassifier().fit(SPLIT.train_features, SPLIT.train_target)
    directory = saved(tmp_path / "model", estimator)
    (directory / ONNX_FILE).write_bytes(b"stale")
    serving = add_served_form(directory, estimator, 4)
    assert serving["runtime"] == "sklearn"
    assert "onnx_model" not in serving
    assert "ConstantClassifier" in serving["reason"]
    assert "\n" not in serving["reason"]
    assert not (directory / ONNX_FILE).exists()
    check = gate_check(directory)
    assert check.passed
    assert check.detail == f"served by scikit-learn: {serving['reason']}"


def test_another_models_onnx_file_fails_the_check(iris_dir: Path, tmp_path: Path) -> None:
    other = iris_pipeline(c=0.001)
    other_dir = saved(tmp_path / "other", other)
    add_served_form(other_dir, other, 4)
    tampered = shutil.copytree(iris_dir, tmp_path / "tampered")
    shutil.copyfile(other_dir / ONNX_FILE, tampered / ONNX_FILE)
    check = gate_check(tampered)
    assert not check.passed
    assert "rows with another class (rows " in check.detail
    assert check.observed is not None
    assert check.observed > 0.1
    assert "beyond 1e-06" in check.detail


def test_a_missing_onnx_file_fails_the_check(iris_dir: Path, tmp_path: Path) -> None:
    broken = shutil.copytree(iris_dir, tmp_path / "broken")
    (broken / ONNX_FILE).unlink()
    check = gate_check(broken)
    assert not check.passed
    assert "model.onnx, which is missing" in check.detail


def test_a_version_without_a_served_form_fails_the_check(tmp_path: Path) -> None:
    directory = saved(tmp_path / "model", iris_pipeline())
    check = gate_check(directory)
    assert not check.passed
    assert check.detail.startswith("no served form: retrain")


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"sha": "0" * 64}, "the test split cannot be rebuilt"),
        ({"sha": None}, "the test split cannot be rebuilt"),
        ({"params": {"seed": "42"}}, "no 'test_size' param"),
        ({"params": {"seed": "x", "test_size": "0.2"}}, "split is unknown"),
    ],
)
def test_the_gate_refuses_a_split_it_cannot_rebuild(
    iris_dir: Path, changes: dict[str, Any], fragment: str
) -> None:
    check = gate_check(iris_dir, **changes)
    assert not check.passed
    assert fragment in check.detail


def test_io_problems_and_a_wrong_class_order_raise(tmp_path: Path) -> None:
    with pytest.raises(ServedFormError, match="cannot read"):
        add_served_form(tmp_path / "absent", iris_pipeline(), 4)
    pipeline = iris_pipeline()
    directory = saved(tmp_path / "model", pipeline)
    pipeline[-1].classes_ = np.array([2, 1, 0])
    with pytest.raises(ServedFormError, match="not the indices of class_names"):
        add_served_form(directory, pipeline, 4)


def test_compare_counts_rows_whose_class_differs() -> None:
    expected = np.array([[0.9, 0.1], [0.4, 0.6], [0.5, 0.5]])
    found = compare(expected, np.array([[0.9, 0.1], [0.7, 0.3], [0.5, 0.5]]))
    assert (found.rows, found.disagreeing_rows) == (3, (1,))
    assert found.max_abs_diff == pytest.approx(0.3)
    assert not found.within(1.0)
    assert compare(expected, expected).within(0.0)
    with pytest.raises(ValueError, match="shape"):
        compare(expected, expected[:, :1])


def test_parity_facts_default_to_no_served_form() -> None:
    assert ParityFacts(None).runtime is None


def test_the_declared_forest_is_served_by_onnx_in_float32(tmp_path: Path) -> None:
    forest = Catalog.discover().get("BreastCancerForest")
    dataset = load_dataset(forest)
    split = split_dataset(dataset, test_size=0.2, seed=42)
    pipeline = fit(forest, dataset, split)[0]
    directory = tmp_path / "model"
    mlflow.sklearn.save_model(
        pipeline,
        str(directory),
        metadata=model_metadata(split.train_features, forest),
        skops_trusted_types=SKOPS_TRUSTED_TYPES,
    )
    serving = add_served_form(directory, pipeline, 30, sample=split.train_features)
    assert (serving["runtime"], serving["input_dtype"]) == ("onnx", "float32")
    facts = parity_facts(directory, forest, PARAMS, dataset.sha256)
    report = decide(forest.gate, "M", CandidateFacts("1", "r", {}, None, parity=facts), None)
    check = report.checks[-1]
    assert check.passed, check.detail
    assert check.detail.startswith("float32 ONNX form on 114 test rows: 0 rows with another")
