"""Turning request JSON into a float64 matrix, checked against the model's signature.

Every rejection names the field (``loc``) and the rule broken (``msg``), in
FastAPI's 422 error shape. The common case (well-formed numbers) is checked
in bulk; the per-value scan that locates an error only runs on bad input.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Sequence
from math import isfinite
from typing import Any

import numpy as np
import orjson

Loc = tuple[str | int, ...]
NUMBER_TYPES = frozenset({int, float})


class InputError(Exception):
    """Input that breaks a rule; becomes a 422 response."""

    def __init__(self, loc: Loc, msg: str, kind: str) -> None:
        super().__init__(msg)
        self.loc, self.msg, self.kind = loc, msg, kind

    def detail(self) -> list[dict[str, Any]]:
        return [{"loc": list(self.loc), "msg": self.msg, "type": self.kind}]


class TooManyRowsError(Exception):
    """A batch larger than the configured limit; becomes a 413 response."""


def decode(body: bytes) -> Any:
    """Parse JSON; NaN and Infinity are accepted here so validation can name them."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body, parse_constant=float)
    except (ValueError, RecursionError) as error:
        raise InputError(("body",), f"body is not valid JSON: {error}", "json_invalid") from error


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):
        return repr(value).replace("nan", "NaN").replace("inf", "Infinity")
    return {str: "a string", list: "an array", dict: "an object", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _check_value(value: Any, loc: Loc) -> float:
    if type(value) not in NUMBER_TYPES:
        raise InputError(loc, f"must be a finite number, got {_describe(value)}", "number_type")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise InputError(loc, f"must be a finite number, got {_describe(value)}", "finite_number")
    return number


def _row(value: Any, features: Sequence[str], loc: Loc) -> list[Any]:
    """One row as an ordered list of raw values (types not yet checked)."""
    if type(value) is list:
        if len(value) != len(features):
            raise InputError(
                loc,
                f"expected {len(features)} values ({', '.join(features)}), got {len(value)}",
                "row_length",
            )
        return value
    if type(value) is dict:
        return _named(value, features, loc)
    raise InputError(
        loc, f"a row must be an array of numbers or an object, got {_describe(value)}", "row_type"
    )


def _named(mapping: dict[str, Any], features: Sequence[str], loc: Loc) -> list[Any]:
    unknown = [key for key in mapping if key not in features]
    if unknown:
        raise InputError(
            (*loc, unknown[0]),
            f"unknown feature; the model's signature has {', '.join(features)}",
            "unknown_feature",
        )
    for name in features:
        if name not in mapping:
            raise InputError((*loc, name), "field required by the model's signature", "missing")
    return [mapping[name] for name in features]


def _matrix(rows: list[list[Any]], loc_of: Callable[[int], Loc]) -> np.ndarray:
    if {type(value) for row in rows for value in row} <= NUMBER_TYPES:
        try:
            matrix = np.array(rows, dtype=np.float64)
        except OverflowError:
            matrix = None
        if matrix is not None and np.isfinite(matrix).all():
            return matrix
    # Bad input: find the first offending value and name it.
    for index, row in enumerate(rows):
        for position, value in enumerate(row):
            _check_value(value, (*loc_of(index), position))
    raise AssertionError("unreachable: a bad value was not located")  # pragma: no cover


def _fix_loc(error: InputError, features: Sequence[str], named: bool) -> InputError:
    """For named rows, report the feature name rather than its position."""
    if named and error.loc and isinstance(error.loc[-1], int):
        error.loc = (*error.loc[:-1], features[error.loc[-1]])
    return error


def parse_single(payload: Any, features: Sequence[str]) -> list[float]:
    """``{"features": [..]}`` or ``{"<feature>": value, ..}`` → the row's values as floats."""
    if type(payload) is dict and len(payload) == 1:  # the common case, checked in bulk
        row = payload.get("features")
        if type(row) is list and len(row) == len(features) and "features" not in features:
            try:
                if set(map(type, row)) <= NUMBER_TYPES:
                    values = list(map(float, row))
                    if all(map(isfinite, values)):
                        return values
            except OverflowError:  # an integer too large for a float: named below
                pass
    if type(payload) is not dict:
        raise InputError(("body",), f"must be a JSON object, got {_describe(payload)}", "body_type")
    loc: Loc = ("body",)
    if "features" in payload and "features" not in features:
        if len(payload) != 1:
            raise InputError(loc, 'give either "features" or named features, not both', "shape")
        loc = ("body", "features")
        named = type(payload["features"]) is dict
        row = _row(payload["features"], features, loc)
    else:
        named = True
        row = _named(payload, features, loc)
    if set(map(type, row)) <= NUMBER_TYPES:  # well-formed named features, checked in bulk
        with contextlib.suppress(OverflowError):  # an integer too large for a float
            values = list(map(float, row))
            if all(map(isfinite, values)):
                return values
    try:  # bad input: find the first offending value and name it
        return [_check_value(value, (*loc, position)) for position, value in enumerate(row)]
    except InputError as error:
        raise _fix_loc(error, features, named) from None


def parse_batch(payload: Any, features: Sequence[str], max_rows: int) -> np.ndarray:
    """``{"instances": [row, ..]}``, rows as arrays or objects → an m-by-n matrix."""
    if type(payload) is not dict or "instances" not in payload:
        raise InputError(
            ("body", "instances"), 'field required: {"instances": [row, ...]}', "missing"
        )
    instances = payload["instances"]
    if type(instances) is not list:
        raise InputError(
            ("body", "instances"), f"must be an array of rows, got {_describe(instances)}", "type"
        )
    if not instances:
        raise InputError(("body", "instances"), "must hold at least 1 row", "too_short")
    if len(instances) > max_rows:
        raise TooManyRowsError(
            f"batch of {len(instances)} rows exceeds the limit of {max_rows} rows"
        )
    rows = [_row(row, features, ("body", "instances", i)) for i, row in enumerate(instances)]
    try:
        return _matrix(rows, lambda index: ("body", "instances", index))
    except InputError as error:
        row_index = error.loc[2]
        named = isinstance(row_index, int) and type(instances[row_index]) is dict
        raise _fix_loc(error, features, named) from None
