"""Parsing request JSON against a signature: accepted shapes and every rejection rule."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mlship.api.validation import InputError, TooManyRowsError, decode, parse_batch, parse_single

pytestmark = pytest.mark.unit
FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def test_single_row_as_values_and_as_names_give_the_same_floats() -> None:
    by_values = parse_single({"features": [5.1, 3.5, 1.4, 0.2]}, FEATURES)
    by_names = parse_single(
        {"petal_width": 0.2, "sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4},
        FEATURES,
    )
    nested_names = parse_single(
        {"features": dict(zip(FEATURES, [5.1, 3.5, 1.4, 0.2], strict=True))}, FEATURES
    )
    for row in (by_values, by_names, nested_names):
        assert row == [5.1, 3.5, 1.4, 0.2]
        assert all(type(value) is float for value in row)


def test_integers_are_numbers() -> None:
    row = parse_single({"features": [5, 3, 1, 0]}, FEATURES)
    assert row == [5.0, 3.0, 1.0, 0.0]
    assert all(type(value) is float for value in row)


def test_a_feature_named_features_is_a_named_feature() -> None:
    # The fast path for {"features": [...]} must not apply to a model with such a feature.
    assert parse_single({"features": 2}, ("features",)) == [2.0]
    with pytest.raises(InputError, match="got an array"):
        parse_single({"features": [2]}, ("features",))


@pytest.mark.parametrize(
    ("body", "loc", "rule"),
    [
        (b'{"features": [5.1, NaN, 1.4, 0.2]}', ["body", "features", 1], "got NaN"),
        (b'{"features": [5.1, 3.5, Infinity, 0.2]}', ["body", "features", 2], "got Infinity"),
        (b'{"features": [5.1, 3.5, 1.4, -Infinity]}', ["body", "features", 3], "got -Infinity"),
        (b'{"features": [5.1, 3.5, 1.4, 1e999]}', ["body", "features", 3], "finite number"),
        (b'{"features": ["5.1", 3.5, 1.4, 0.2]}', ["body", "features", 0], "got a string"),
        (b'{"features": [true, 3.5, 1.4, 0.2]}', ["body", "features", 0], "got a boolean"),
        (b'{"features": [null, 3.5, 1.4, 0.2]}', ["body", "features", 0], "got null"),
        (b'{"features": [[5.1], 3.5, 1.4, 0.2]}', ["body", "features", 0], "got an array"),
        (b'{"features": [5.1, 3.5, 1.4]}', ["body", "features"], "expected 4 values"),
        (b'{"features": []}', ["body", "features"], "got 0"),
        (b'{"features": "5.1,3.5"}', ["body", "features"], "array of numbers or an object"),
        (b'{"sepal_length": 5.1}', ["body", "sepal_width"], "field required"),
        (
            b'{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2,'
            b' "colour": 1}',
            ["body", "colour"],
            "unknown feature",
        ),
        (
            b'{"sepal_length": 5.1, "sepal_width": "x", "petal_length": 1.4, "petal_width": 0.2}',
            ["body", "sepal_width"],
            "got a string",
        ),
        (b'{"features": [1, 2, 3, 4], "sepal_length": 1}', ["body"], "not both"),
        (b"[5.1, 3.5, 1.4, 0.2]", ["body"], "JSON object"),
        (b"{not json", ["body"], "not valid JSON"),
        (b"", ["body"], "not valid JSON"),
    ],
)
def test_single_row_rejections_name_the_field_and_rule(
    body: bytes, loc: list[Any], rule: str
) -> None:
    with pytest.raises(InputError) as raised:
        parse_single(decode(body), FEATURES)
    [detail] = raised.value.detail()
    assert detail["loc"] == loc
    assert rule in detail["msg"]


def test_batch_accepts_arrays_and_objects() -> None:
    matrix = parse_batch(
        {"instances": [[1, 2, 3, 4], dict(zip(FEATURES, [5, 6, 7, 8], strict=True))]}, FEATURES, 10
    )
    np.testing.assert_array_equal(matrix, [[1, 2, 3, 4], [5, 6, 7, 8]])


@pytest.mark.parametrize(
    ("payload", "loc", "rule"),
    [
        ({}, ["body", "instances"], "field required"),
        ({"instances": []}, ["body", "instances"], "at least 1 row"),
        ({"instances": {"a": 1}}, ["body", "instances"], "array of rows"),
        ({"instances": [[1, 2, 3, 4], [1, 2, 3]]}, ["body", "instances", 1], "expected 4"),
        (
            {"instances": [[1, 2, 3, 4], [1, 2, 3, float("nan")]]},
            ["body", "instances", 1, 3],
            "NaN",
        ),
        (
            {"instances": [[1, 2, 3, 4], dict(zip(FEATURES, [1, "2", 3, 4], strict=True))]},
            ["body", "instances", 1, "sepal_width"],
            "string",
        ),
        ({"instances": [5]}, ["body", "instances", 0], "a row must be"),
    ],
)
def test_batch_rejections(payload: Any, loc: list[Any], rule: str) -> None:
    with pytest.raises(InputError) as raised:
        parse_batch(payload, FEATURES, 10)
    [detail] = raised.value.detail()
    assert detail["loc"] == loc
    assert rule in detail["msg"]


def test_batch_over_the_limit_is_refused() -> None:
    with pytest.raises(TooManyRowsError, match="11 rows exceeds the limit of 10"):
        parse_batch({"instances": [[1, 2, 3, 4]] * 11}, FEATURES, 10)
