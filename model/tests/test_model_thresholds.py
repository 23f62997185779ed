"""The thresholds file: parsed strictly, errors name the key and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlship.model.errors import BadConfigError
from mlship.model.thresholds import load_thresholds, parse_thresholds

pytestmark = pytest.mark.unit

RULE = '[[metric]]\nname = "accuracy"\ndirection = "min"\nbound = 0.9\n'


def error_of(text: str) -> str:
    with pytest.raises(BadConfigError) as caught:
        parse_thresholds(text, "t.toml")
    return str(caught.value)


def test_packaged_default_is_valid() -> None:
    policy = load_thresholds(None)
    assert {rule.name for rule in policy.metric} == {"accuracy", "f1_macro", "log_loss"}
    assert all(rule.tolerance > 0 for rule in policy.metric)


def test_packaged_default_declares_the_onnx_parity_tolerances() -> None:
    parity = load_thresholds(None).onnx_parity
    assert (parity.tolerance, parity.float32_tolerance) == (1e-6, 1e-4)
    assert parity.for_dtype("float64") == 1e-6
    assert parity.for_dtype("float32") == 1e-4


def test_onnx_parity_table_is_optional_and_read() -> None:
    assert parse_thresholds(RULE, "t.toml").onnx_parity.tolerance == 1e-6
    policy = parse_thresholds(RULE + "[onnx_parity]\ntolerance = 1e-9\n", "t.toml")
    assert (policy.onnx_parity.tolerance, policy.onnx_parity.float32_tolerance) == (1e-9, 1e-4)


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ("tolerance = -1e-6", "onnx_parity.tolerance (table at line 5): Input should be greater"),
        ("tolerance = 2", "onnx_parity.tolerance (table at line 5): Input should be less"),
        ("tolerance = true", "onnx_parity.tolerance (table at line 5): Input should be a valid"),
        ('tolerance = "1e-6"', "onnx_parity.tolerance (table at line 5): Input should be a valid"),
        ("tolerance = nan", "onnx_parity.tolerance (table at line 5): Input should be a finite"),
        ("float32_tolerance = -1", "onnx_parity.float32_tolerance (table at line 5)"),
        ("tolerence = 1e-6", "onnx_parity.tolerence (table at line 5): Extra inputs"),
    ],
)
def test_bad_onnx_parity_values_name_the_key(table: str, fragment: str) -> None:
    assert fragment in error_of(RULE + "[onnx_parity]\n" + table + "\n")


def test_tolerance_defaults_to_zero() -> None:
    assert parse_thresholds(RULE, "t.toml").metric[0].tolerance == 0.0


def test_syntax_error_names_the_line() -> None:
    message = error_of(RULE + "bound = \n")
    assert "t.toml" in message
    assert "invalid TOML" in message
    assert "line 5" in message


def test_bad_direction_names_the_rule_line_and_key() -> None:
    message = error_of(RULE + '\n[[metric]]\nname = "log_loss"\ndirection = "down"\nbound = 1\n')
    assert "metric #2 (line 6).direction" in message
    assert "'min' or 'max'" in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[[metric]]\nname = "a"\ndirection = "min"\n', "metric #1 (line 1).bound: Field required"),
        (RULE + "treshold = 1\n", "metric #1 (line 1).treshold: Extra inputs are not permitted"),
        (RULE + "tolerance = -0.1\n", "metric #1 (line 1).tolerance"),
        ('[[metric]]\nname = "a"\ndirection = "min"\nbound = "high"\n', ".bound"),
        (RULE + RULE, "repeated: accuracy"),
        ("", "[[metric]] tables: Field required"),
        ('metrics = "x"\n', "metrics: Extra inputs are not permitted"),
    ],
)
def test_invalid_content_is_explained(text: str, fragment: str) -> None:
    assert fragment in error_of(text)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadConfigError, match=r"missing\.toml: cannot read it"):
        load_thresholds(tmp_path / "missing.toml")


def test_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "strict.toml"
    path.write_text(RULE.replace("0.9", "0.99"))
    policy = load_thresholds(path)
    assert policy.metric[0].bound == 0.99
    assert policy.source == str(path)
