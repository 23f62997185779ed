"""Model specifications and the gate policy: parsed strictly, errors name the file and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlship.model.catalog import DEFAULTS_FILE, Catalog, models_dir, parse_spec
from mlship.model.errors import BadConfigError, ExitCode, UsageError
from mlship.model.thresholds import load_policy_file

pytestmark = pytest.mark.unit

MINIMAL = """\
name = "Tiny"
experiment = "tiny"
contract_version = 1

[data]
loader = "sklearn"
dataset = "iris"
features = ["a", "b", "c", "d"]
classes = ["setosa", "versicolor", "virginica"]

[[pipeline]]
name = "classifier"
estimator = "sklearn.tree.DecisionTreeClassifier"
params = { max_depth = 3 }

[[smoke]]
expected = "setosa"
features = [5.1, 3.5, 1.4, 0.2]
"""


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    """A copy of the declared models, to add to and break."""
    copy = tmp_path / "models"
    shutil.copytree(models_dir(), copy)
    return Catalog(copy)


def error_of(catalog: Catalog, text: str, name: str = "tiny.toml") -> str:
    (catalog.directory / name).write_text(text)
    with pytest.raises(BadConfigError) as caught:
        catalog.specs()
    message = str(caught.value)
    assert name in message
    return message


def test_two_examples_are_declared_and_iris_is_as_before() -> None:
    specs = {spec.name: spec for spec in Catalog.discover().specs()}
    assert set(specs) >= {"IrisClassifier", "BreastCancerForest"}
    iris = specs["IrisClassifier"]
    assert [(step.name, step.params) for step in iris.pipeline] == [
        ("scaler", {}),
        ("classifier", {"C": 1.0, "max_iter": 200}),
    ]
    assert (iris.split.seed, iris.split.test_size, iris.experiment) == (42, 0.2, "mlship-iris")
    forest = specs["BreastCancerForest"]
    assert forest.pipeline[-1].estimator == "sklearn.ensemble.RandomForestClassifier"
    assert len(forest.data.features) == 30


def test_defaults_give_the_shared_policy_and_a_spec_overrides_one_key() -> None:
    iris = Catalog.discover().get("IrisClassifier").gate
    forest = Catalog.discover().get("BreastCancerForest").gate
    assert set(iris.metrics) == {"accuracy", "f1_macro", "log_loss"}
    assert iris.metrics["accuracy"].threshold == 0.90
    assert forest.metrics["accuracy"].threshold == 0.92
    assert forest.metrics["accuracy"].tolerance == iris.metrics["accuracy"].tolerance == 0.02
    assert iris.metrics["log_loss"].greater_is_better is False
    assert (iris.onnx_parity.tolerance, iris.onnx_parity.float32_tolerance) == (1e-6, 1e-4)
    assert iris.source.endswith("iris.toml")


def test_a_minimal_spec_inherits_split_and_gate(catalog: Catalog) -> None:
    (catalog.directory / "tiny.toml").write_text(MINIMAL)
    tiny = catalog.get("Tiny")
    assert (tiny.split.seed, tiny.split.test_size) == (42, 0.2)
    assert set(tiny.gate.metrics) == {"accuracy", "f1_macro", "log_loss"}
    assert tiny.smoke_sample() == {"inputs": [[5.1, 3.5, 1.4, 0.2]], "expected": [0]}


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (('dataset = "iris"', 'dataset = "mnist"'), "data.sklearn.dataset: Input should be"),
        (('loader = "sklearn"', 'loader = "xlsx"'), "data: Input tag 'xlsx'"),
        (("contract_version = 1", "contract_version = 0"), "contract_version: Input should be"),
        (("tree.DecisionTreeClassifier", "tree.Nope"), "scikit-learn has no 'sklearn.tree.Nope'"),
        (("sklearn.tree.Decision", "os.path.Decision"), "is not a scikit-learn class path"),
        (("max_depth = 3", "depth = 3"), "DecisionTreeClassifier takes no parameter depth"),
        (
            (
                'tree.DecisionTreeClassifier"\nparams = { max_depth = 3 }',
                'preprocessing.Normalizer"',
            ),
            "the last step, classifier, is no classifier",
        ),
        (('expected = "setosa"', 'expected = "rose"'), "smoke[1].expected: 'rose' is not"),
        (("[5.1, 3.5, 1.4, 0.2]", "[5.1, 3.5]"), "smoke[1].features: 2 values"),
        (('name = "Tiny"', 'name = "Tiny"\ncolour = 1'), "colour: Extra inputs"),
        (('["a", "b", "c", "d"]', '["a", "a", "c", "d"]'), "repeated: a"),
    ],
)
def test_an_invalid_spec_names_its_file_and_field(
    catalog: Catalog, change: tuple[str, str], fragment: str
) -> None:
    assert fragment in error_of(catalog, MINIMAL.replace(*change))


@pytest.mark.parametrize(
    ("gate", "fragment"),
    [
        ('[gate.metrics.accuracy]\nthreshold = "high"\n', "gate.metrics.accuracy.threshold"),
        ('[gate.metrics.accuracy]\ngreater_is_better = "yes"\n', "accuracy.greater_is_better"),
        ("[gate.metrics.accuracy]\ntolerance = -0.1\n", "gate.metrics.accuracy.tolerance"),
        ('[gate.metrics.accuracy]\ndirection = "min"\n', "accuracy.direction: Extra inputs"),
        ("[gate.metrics.acuracy]\nthreshold = 0.9\ngreater_is_better = true\n", "logs no acuracy"),
        ("[gate.metrics.recall_rose]\nthreshold = 0.9\ngreater_is_better = true\n", "recall_rose"),
        ("[gate.metrics.f1]\nthreshold = 0.9\n", "gate.metrics.f1.greater_is_better: Field"),
        ("[gate.onnx_parity]\ntolerance = 2\n", "gate.onnx_parity.tolerance: Input should be less"),
        ("[gate.onnx_parity]\ntolerence = 1e-6\n", "gate.onnx_parity.tolerence: Extra inputs"),
    ],
)
def test_an_invalid_gate_policy_names_the_metric_and_key(
    catalog: Catalog, gate: str, fragment: str
) -> None:
    assert fragment in error_of(catalog, MINIMAL + gate)


def test_bad_toml_and_a_repeated_name_are_explained(catalog: Catalog) -> None:
    assert "invalid TOML" in error_of(catalog, MINIMAL + "name = \n")
    repeated = error_of(catalog, MINIMAL.replace("Tiny", "IrisClassifier"))
    assert "'IrisClassifier' is already declared by" in repeated


def test_per_class_metrics_can_be_gated(catalog: Catalog) -> None:
    gate = "[gate.metrics.recall_setosa]\nthreshold = 0.9\ngreater_is_better = true\n"
    (catalog.directory / "tiny.toml").write_text(MINIMAL + gate)
    assert "recall_setosa" in catalog.get("Tiny").gate.metrics


def test_an_unknown_model_is_a_usage_error_listing_the_known_ones() -> None:
    with pytest.raises(UsageError) as caught:
        Catalog.discover().get("Nope")
    assert caught.value.exit_code == ExitCode.USAGE
    assert "BreastCancerForest, IrisClassifier" in str(caught.value)


def test_a_missing_directory_is_explained(tmp_path: Path) -> None:
    with pytest.raises(BadConfigError, match="MLSHIP_MODELS_DIR"):
        Catalog(tmp_path / "absent").specs()


def test_shared_files_are_not_models(catalog: Catalog) -> None:
    assert DEFAULTS_FILE not in {path.name for path in catalog.files()}
    assert "split" in catalog.defaults()


def test_a_thresholds_file_replaces_the_policy(tmp_path: Path) -> None:
    path = tmp_path / "strict.toml"
    path.write_text("[gate.metrics.accuracy]\nthreshold = 0.99\ngreater_is_better = true\n")
    policy = load_policy_file(path)
    assert list(policy.metrics) == ["accuracy"]
    assert policy.metrics["accuracy"].name == "accuracy"
    assert policy.source == str(path)
    path.write_text("[gate.metrics.accuracy]\nthreshold = 0.99\n")
    with pytest.raises(BadConfigError, match=r"gate\.metrics\.accuracy\.greater_is_better"):
        load_policy_file(path)
    with pytest.raises(BadConfigError, match=r"missing\.toml: cannot read it"):
        load_policy_file(tmp_path / "missing.toml")
    path.write_text("")
    with pytest.raises(BadConfigError, match=r"gate\.metrics: Field required"):
        load_policy_file(path)


def test_parse_spec_without_defaults_needs_every_table(tmp_path: Path) -> None:
    path = tmp_path / "bare.toml"
    path.write_text(MINIMAL)
    with pytest.raises(BadConfigError) as caught:
        parse_spec(path)
    assert "split: Field required" in str(caught.value)
    assert "gate: Field required" in str(caught.value)
