"""Every accepted request body turned into a float64 matrix, checked against the model's signature.

The rules every endpoint shares (``number_matrix``: numbers, finite, within the magnitude
bound) and the bodies of ``/predict`` (values in signature order or named features)
and ``/predict/batch`` (rows of either kind); the Open Inference Protocol's tensors
build on them in ``tensors.py``. Each rule exists once and every rejection names the
field (``loc``) and the rule (``msg``). Well-formed numbers are checked in bulk; the
per-value scan that locates an error runs only on bad input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

Loc = tuple[str | int, ...]
NUMBER_TYPES = frozenset({int, float})
FLOAT64_MAX = float(np.finfo(np.float64).max)  # |x| <= this: x is finite


class InputError(Exception):
    """Input that breaks a rule: a 422 (``/predict``) or a 400 (V2)."""

    def __init__(self, loc: Loc, msg: str, kind: str) -> None:
        super().__init__(msg)
        self.loc, self.msg, self.kind = loc, msg, kind

    def detail(self) -> list[dict[str, Any]]:
        return [{"loc": list(self.loc), "msg": self.msg, "type": self.kind}]

    def sentence(self) -> str:
        return f"{'.'.join(str(part) for part in self.loc)}: {self.msg}"


class TooManyRowsError(Exception):
    """More rows than ``API_MAX_BATCH_ROWS``: a 413."""


def describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):
        return repr(value).replace("nan", "NaN").replace("inf", "Infinity")
    names = {str: "a string", list: "an array", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def number_matrix(rows: list[list[Any]], loc_of: Any, limit: float = FLOAT64_MAX) -> np.ndarray:
    """``rows`` as a matrix if all values are numbers within ``limit``; else name the first bad one.

    One comparison checks both: a NaN maximum compares false, infinity exceeds any limit.
    """
    if all(set(map(type, row)) <= NUMBER_TYPES for row in rows):
        try:
            matrix = np.array(rows, dtype=np.float64)
        except OverflowError:  # an integer too large for a float: located below
            matrix = None
        if matrix is not None and (not matrix.size or np.abs(matrix).max() <= limit):
            return matrix
    for index, row in enumerate(rows):
        for position, value in enumerate(row):
            kind = "number_type" if type(value) not in NUMBER_TYPES else "finite_number"
            if kind == "finite_number":
                try:
                    number = float(value)
                except OverflowError:
                    number = math.inf
                if abs(number) <= limit:
                    continue
                if math.isfinite(number):
                    message = f"must be within [-{limit:g}, {limit:g}], got {describe(number)}"
                    raise InputError(loc_of(index, position), message, "magnitude")
            message = f"must be a finite number, got {describe(value)}"
            raise InputError(loc_of(index, position), message, kind)
    raise AssertionError("unreachable: a bad value was not located")  # pragma: no cover


def _row(value: Any, features: Sequence[str], loc: Loc) -> tuple[list[Any], bool]:
    """One row's raw values in signature order, and whether it named its features."""
    if type(value) is list:
        if len(value) != len(features):
            message = f"expected {len(features)} values ({', '.join(features)}), got {len(value)}"
            raise InputError(loc, message, "row_length")
        return value, False
    if type(value) is not dict:
        message = f"a row must be an array of numbers or an object, got {describe(value)}"
        raise InputError(loc, message, "row_type")
    for key in value:
        if key not in features:
            message = f"unknown feature; the model's signature has {', '.join(features)}"
            raise InputError((*loc, key), message, "unknown_feature")
    for name in features:
        if name not in value:
            raise InputError((*loc, name), "field required by the model's signature", "missing")
    return [value[name] for name in features], True


def _rows(
    raw: list[tuple[list[Any], bool]], features: Sequence[str], base: Loc, limit: float
) -> np.ndarray:
    def loc_of(index: int, position: int) -> Loc:
        row_loc = (*base, index) if len(raw) > 1 or base[-1] == "instances" else base
        return (*row_loc, features[position] if raw[index][1] else position)

    return number_matrix([values for values, _ in raw], loc_of, limit)


def single_row(payload: Any, features: Sequence[str], limit: float = FLOAT64_MAX) -> np.ndarray:
    """``{"features": [..]}``, ``{"features": {..}}`` or ``{"<feature>": value, ..}`` -> 1 row."""
    if type(payload) is not dict:
        raise InputError(("body",), f"must be a JSON object, got {describe(payload)}", "body_type")
    if "features" in payload and "features" not in features:
        if len(payload) != 1:
            message = 'give either "features" or named features, not both'
            raise InputError(("body",), message, "shape")
        loc: Loc = ("body", "features")
        return _rows([_row(payload["features"], features, loc)], features, loc, limit)
    return _rows([_row(payload, features, ("body",))], features, ("body",), limit)


def batch_rows(
    payload: Any, features: Sequence[str], max_rows: int, limit: float = FLOAT64_MAX
) -> np.ndarray:
    """``{"instances": [row, ..]}``, rows as arrays or objects -> an m-by-n matrix."""
    loc: Loc = ("body", "instances")
    if type(payload) is not dict or "instances" not in payload:
        raise InputError(loc, 'field required: {"instances": [row, ...]}', "missing")
    if len(payload) > 1:
        other = next(key for key in payload if key != "instances")
        raise InputError(
            ("body", other), 'unknown field: the body is {"instances": [...]}', "unknown"
        )
    instances = payload["instances"]
    if type(instances) is not list:
        raise InputError(loc, f"must be an array of rows, got {describe(instances)}", "type")
    if not instances:
        raise InputError(loc, "must hold at least 1 row", "too_short")
    if len(instances) > max_rows:
        raise TooManyRowsError(
            f"batch of {len(instances)} rows exceeds the limit of {max_rows} rows"
        )
    rows = [_row(row, features, (*loc, i)) for i, row in enumerate(instances)]
    return _rows(rows, features, loc, limit)
