"""Parsing request JSON against a signature: accepted shapes and every rejection rule."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from mlship.api.jsonbody import decode
from mlship.api.tensors import tensor_rows
from mlship.api.validation import InputError, TooManyRowsError, batch_rows, single_row

pytestmark = pytest.mark.unit
FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def test_single_row_as_values_and_as_names_give_the_same_floats() -> None:
    by_values = single_row({"features": [5.1, 3.5, 1.4, 0.2]}, FEATURES)
    by_names = single_row(
        {"petal_width": 0.2, "sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4},
        FEATURES,
    )
    nested_names = single_row(
        {"features": dict(zip(FEATURES, [5.1, 3.5, 1.4, 0.2], strict=True))}, FEATURES
    )
    for row in (by_values, by_names, nested_names):
        assert row.dtype == np.float64
        assert row.tolist() == [[5.1, 3.5, 1.4, 0.2]]


def test_integers_are_numbers() -> None:
    row = single_row({"features": [5, 3, 1, 0]}, FEATURES)
    assert row.dtype == np.float64
    assert row.tolist() == [[5.0, 3.0, 1.0, 0.0]]


def test_a_feature_named_features_is_a_named_feature() -> None:
    # The fast path for {"features": [...]} must not apply to a model with such a feature.
    assert single_row({"features": 2}, ("features",)).tolist() == [[2.0]]
    with pytest.raises(InputError, match="got an array"):
        single_row({"features": [2]}, ("features",))


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
        single_row(decode(body), FEATURES)
    [detail] = raised.value.detail()
    assert detail["loc"] == loc
    assert rule in detail["msg"]


def test_batch_accepts_arrays_and_objects() -> None:
    matrix = batch_rows(
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
        batch_rows(payload, FEATURES, 10)
    [detail] = raised.value.detail()
    assert detail["loc"] == loc
    assert rule in detail["msg"]


def test_batch_over_the_limit_is_refused() -> None:
    with pytest.raises(TooManyRowsError, match="11 rows exceeds the limit of 10"):
        batch_rows({"instances": [[1, 2, 3, 4]] * 11}, FEATURES, 10)


def tensor(data: Any, shape: list[int], name: str = "input-0", datatype: Any = "FP64") -> Any:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def test_v2_tensors_one_matrix_or_one_per_feature_give_the_same_rows() -> None:
    rows: list[list[float]] = [[5.1, 3.5, 1.4, 0.2], [6, 3, 5, 2]]
    as_matrix = tensor_rows({"inputs": [tensor(rows, [2, 4])]}, FEATURES, 10)
    flat = tensor_rows({"inputs": [tensor([v for row in rows for v in row], [2, 4])]}, FEATURES, 10)
    per_feature = tensor_rows(
        {
            "inputs": [
                tensor([row[i] for row in rows], [2], name) for i, name in enumerate(FEATURES)
            ]
        },
        FEATURES,
        10,
    )
    for matrix in (as_matrix, flat, per_feature):
        np.testing.assert_array_equal(matrix, rows)


@pytest.mark.parametrize(
    ("payload", "sentence"),
    [
        ({}, 'inputs: the request must be an object with an "inputs" array'),
        ({"inputs": [5]}, "inputs.0: must be an object"),
        (
            {"inputs": [tensor([1], [1, 4], datatype="BYTES")]},
            "inputs.0.datatype: must be a numeric",
        ),
        (
            {"inputs": [tensor([1], [1, 4], datatype=["FP64"])]},  # unhashable: no TypeError
            "inputs.0.datatype: must be a numeric",
        ),
        ({"inputs": [tensor([1, 2, 3, 4], [1, -4])]}, "inputs.0.shape: must be a list of sizes"),
        ({"inputs": [tensor([1, 2, 3, "x"], [1, 4])]}, "inputs.0.data.3: must be a finite number"),
        ({"inputs": [tensor([1, 2, 3], [1, 4])]}, "inputs.0.data: 3 values do not fill shape"),
        ({"inputs": [tensor([1.0, 2.0], [2], "colour")]}, "inputs: expected one [N, 4] tensor"),
        ({"inputs": [tensor([], [0, 4])]}, "inputs: the request holds no rows"),
        (
            {"inputs": [tensor([1, 2, 3, 4.5], [1, 4], datatype="INT32")]},
            "inputs.0.data.3: must be an integer in [-2147483648, 2147483647] for INT32, got 4.5",
        ),
        (
            {"inputs": [tensor([1, 2, 300, 4], [1, 4], datatype="UINT8")]},
            "inputs.0.data.2: must be an integer in [0, 255] for UINT8",
        ),
        (
            {"inputs": [tensor([1, -1, 3, 4], [1, 4], datatype="UINT16")]},
            "inputs.0.data.1: must be an integer in [0, 65535] for UINT16",
        ),
        (
            {"inputs": [tensor([1, 2, 3, 1e39], [1, 4], datatype="FP32")]},
            "inputs.0.data.3: must be within the range of FP32",
        ),
        (
            {"inputs": [tensor([1.0], [1], "sepal_length"), tensor([2.0], [1], "sepal_length")]},
            "inputs: input names must be unique, repeated: ['sepal_length']",
        ),
        ({"inputs": [tensor([], [2**42, 0, 9])]}, "inputs.0.shape: must have 1 or 2 dimensions"),
        ({"inputs": [tensor([], [2**62, 0])]}, "inputs.0.data: 0 values do not fill shape"),
    ],
)
def test_v2_rejections_name_the_field(payload: Any, sentence: str) -> None:
    with pytest.raises(InputError) as raised:
        tensor_rows(payload, FEATURES, 10)
    assert raised.value.sentence().startswith(sentence)


def test_v2_over_the_row_limit_is_refused() -> None:
    with pytest.raises(TooManyRowsError, match="11 rows exceed the limit of 10 rows"):
        tensor_rows({"inputs": [tensor([[1, 2, 3, 4]] * 11, [11, 4])]}, FEATURES, 10)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (b'{"features": [1, 2, 3, 4], "features": [1, 2, 3, 5]}', ["body", "features"]),
        (b'{"sepal_length": 1, "sepal_width": 2, "sepal_length": 3}', ["body", "sepal_length"]),
        (
            b'{"features": {"sepal_width": 1, "sepal_width": 2}}',
            ["body", "features", "sepal_width"],
        ),
        (b'{"instances": [[1, 2, 3, 4], {"a": 1, "b": 2, "a": 3}]}', ["body", "instances", 1, "a"]),
        (b'{"inputs": [{"name": "x", "name": "y"}]}', ["body", "inputs", 0, "name"]),
        # A colon inside a string, or an escaped one, must not hide a repeated key.
        (b'{"a": "x:y", "a": 1}', ["body", "a"]),
        (b'{"a": 1, "a": 2, "b": "\\u003a"}', ["body", "a"]),
        (b'{"a": NaN, "a": 1}', ["body", "a"]),
    ],
)
def test_a_key_repeated_at_any_depth_is_refused_by_name(body: bytes, loc: list[Any]) -> None:
    with pytest.raises(InputError) as raised:
        decode(body)
    [detail] = raised.value.detail()
    assert (detail["loc"], detail["type"]) == (loc, "duplicate_key")
    assert "more than once" in detail["msg"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": "a:b:c", "inputs": [{"name": "x:1", "data": [1, 2]}]}',  # colons in strings
        b'{"instances": [{"a": 1, "b": 2}, {"a": 3, "b": 4}]}',
        b'{"k": "\\ud83d\\ude00", "n": [{"x": {"y": 1}}]}',  # a surrogate pair is one character
    ],
)
def test_bodies_without_repeated_keys_parse_as_orjson_does(body: bytes) -> None:
    assert decode(body) == orjson.loads(body)


@pytest.mark.parametrize(
    ("body", "loc", "rule"),
    [
        (b'{"\\ud800": 1}', ["body"], "a key holds an invalid Unicode escape"),
        (b'{"features": {"\\udc00x": 1}}', ["body", "features"], "a key holds"),
        (b'{"inputs": [{"name": "\\ud800"}]}', ["body", "inputs", 0, "name"], "lone surrogate"),
        (b'{"id": "a\\udfff", "x": NaN}', ["body", "id"], "lone surrogate"),
        (b'\xff\xfe{"a": 1}', ["body"], "not valid UTF-8"),
        ('{"features": [1, 2, 3, 4]}'.encode("utf-16"), ["body"], "not valid UTF-8"),
        (b'\xef\xbb\xbf{"features": [1, 2, 3, 4]}', ["body"], "not valid JSON"),  # a BOM
        (b'{"a": "\xed\xa0\x80"}', ["body"], "not valid UTF-8"),  # a surrogate, encoded
        (b"[" * 100_000, ["body"], "not valid JSON"),
        (b'"\\ud800"', ["body"], "lone surrogate"),  # the body itself a string
    ],
)
def test_text_that_is_not_unicode_is_refused_by_name(
    body: bytes, loc: list[Any], rule: str
) -> None:
    with pytest.raises(InputError) as raised:
        decode(body)
    [detail] = raised.value.detail()
    assert detail["loc"] == loc
    assert rule in detail["msg"]
    orjson.dumps(raised.value.detail())  # the refusal itself can always be sent


def test_values_beyond_the_magnitude_limit_are_refused_by_name() -> None:
    limit = 1e12
    assert single_row({"features": [1e12, -1e12, 0, 5]}, FEATURES, limit).shape == (1, 4)
    for value, rule in ((1e308, "within [-1e+12, 1e+12], got 1e+308"), (10**30, "within")):
        with pytest.raises(InputError) as raised:
            single_row({"features": [1, 2, value, 4]}, FEATURES, limit)
        [detail] = raised.value.detail()
        assert (detail["loc"], detail["type"]) == (["body", "features", 2], "magnitude")
        assert rule in detail["msg"]
    with pytest.raises(InputError, match="finite number, got NaN"):
        batch_rows({"instances": [[1, 2, 3, float("nan")]]}, FEATURES, 10, limit)


def test_batch_refuses_unknown_top_level_fields() -> None:
    with pytest.raises(InputError) as raised:
        batch_rows({"instances": [[1, 2, 3, 4]], "extra": 1}, FEATURES, 10)
    assert raised.value.detail()[0]["loc"] == ["body", "extra"]


@pytest.mark.parametrize("body", [b"Infinity", b"-Infinity", b"NaN", b"1e999", b"null", b"7"])
def test_a_body_that_is_one_value_parses_and_is_then_refused_as_a_body(body: bytes) -> None:
    with pytest.raises(InputError, match="must be a JSON object"):
        single_row(decode(body), FEATURES)
