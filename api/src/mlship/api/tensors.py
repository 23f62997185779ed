"""Open Inference Protocol input tensors -> the float64 matrix the model takes.

One [N, features] tensor, or one tensor per feature named as in the signature
([N] or [N, 1]); values from JSON ``data`` or from binary tensor data
(``v2_binary``). The values pass ``validation.number_matrix``'s rules like every other
body, then the declared datatype's own (an integer in range, a float the type can
carry).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlship.api.validation import (
    FLOAT64_MAX,
    NUMBER_TYPES,
    InputError,
    Loc,
    TooManyRowsError,
    describe,
    number_matrix,
)

# The protocol's numeric datatypes and the values each can carry: integers in range,
# or floats within the type's largest finite magnitude.
INTEGER_RANGES = {
    **{f"INT{bits}": (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) for bits in (8, 16, 32, 64)},
    **{f"UINT{bits}": (0, 2**bits - 1) for bits in (8, 16, 32, 64)},
}
FLOAT_LIMITS = {"FP16": 65504.0, "FP32": float(np.finfo(np.float32).max), "FP64": math.inf}
V2_DATATYPES = frozenset(INTEGER_RANGES) | frozenset(FLOAT_LIMITS)

# Why an input without data has none, when its parameters say so.
NO_DATA_HINTS = {
    "binary_data_size": "given, but the body has no binary data (Inference-Header-Content-Length)",
    "shared_memory_region": "shared memory is not supported: send data or binary tensor data",
}


def _check_datatype(values: np.ndarray, datatype: str, loc: Loc) -> None:
    """Refuse values the declared datatype cannot carry (a fraction in INT32, 300 in UINT8...)."""
    if datatype in INTEGER_RANGES:
        low, high = INTEGER_RANGES[datatype]
        bad = np.flatnonzero((values != np.floor(values)) | (values < low) | (values > high))
        rule = f"must be an integer in [{low}, {high}] for {datatype}"
    elif FLOAT_LIMITS[datatype] == math.inf:
        return  # FP64 carries every finite number, and values are finite already
    else:
        bad = np.flatnonzero(np.abs(values) > FLOAT_LIMITS[datatype])
        rule = f"must be within the range of {datatype}"
    if bad.size:
        first = int(bad[0])
        message = f"{rule}, got {describe(float(values[first]))}"
        raise InputError((*loc, "data", first), message, "tensor_datatype")


def _values(
    spec: dict[str, Any], shape: list[int], loc: Loc, chunk: memoryview | None, limit: float
) -> Any:
    """A tensor's values: its binary tensor data (``chunk``, ``v2_binary``) or its ``data``."""

    def at(_: int, position: int) -> Loc:
        return (*loc, "data", position)

    data = spec.get("data")
    if chunk is not None:
        if "data" in spec:
            message = "give data or parameters.binary_data_size, not both"
            raise InputError((*loc, "data"), message, "tensor_data")
        datatype = spec["datatype"]
        dtype = np.dtype(datatype.replace("FP", "FLOAT").lower()).newbyteorder("<")
        if len(chunk) != math.prod(shape) * dtype.itemsize:
            message = f"{len(chunk)} bytes do not hold shape {shape} of {datatype}"
            raise InputError((*loc, "parameters", "binary_data_size"), message, "tensor_size")
        values = np.frombuffer(chunk, dtype).astype(np.float64)
        if values.size and not np.abs(values).max() <= limit:  # NaN too: named as in JSON data
            number_matrix([values.tolist()], at, limit)
        return values
    if type(data) is not list:
        given = spec.get("parameters")
        for key, rule in NO_DATA_HINTS.items():
            if type(given) is dict and key in given:
                raise InputError((*loc, "parameters", key), rule, "tensor_data")
        raise InputError((*loc, "data"), "must be an array of numbers", "tensor_data")
    if not set(map(type, data)) <= NUMBER_TYPES:  # nested (row-major) data, or bad values
        data = np.ravel(np.array(data, dtype=object)).tolist()
    return number_matrix([data], at, limit)[0]


def _tensor(
    spec: Any, index: int, max_rows: int, chunk: memoryview | None, limit: float
) -> tuple[str, np.ndarray]:
    loc: Loc = ("inputs", index)
    if type(spec) is not dict:
        raise InputError(loc, "must be an object", "tensor_type")
    name, shape = spec.get("name"), spec.get("shape")
    if type(name) is not str or not name:
        raise InputError((*loc, "name"), "must be a non-empty string", "tensor_name")
    datatype = spec.get("datatype")
    if type(datatype) is not str or datatype not in V2_DATATYPES:  # a list is unhashable
        message = f"must be a numeric datatype, got {spec.get('datatype')!r}"
        raise InputError((*loc, "datatype"), message, "tensor_datatype")
    if type(shape) is not list or not shape or not all(type(d) is int and d >= 0 for d in shape):
        raise InputError((*loc, "shape"), "must be a list of sizes", "tensor_shape")
    if len(shape) > 2:  # tabular models take [N, features], [N] or [N, 1]
        message = f"must have 1 or 2 dimensions ([N, features] or [N]), got {len(shape)}"
        raise InputError((*loc, "shape"), message, "tensor_shape")
    values = _values(spec, shape, loc, chunk, limit)
    _check_datatype(values, datatype, loc)
    # An empty tensor may name any sizes beside a 0; numpy cannot even shape absurd ones.
    if values.size != math.prod(shape) or (not values.size and max(shape) > max_rows):
        message = f"{values.size} values do not fill shape {shape}"
        raise InputError((*loc, "data"), message, "tensor_size")
    return name, values.reshape(shape)


def tensor_rows(
    payload: Any,
    features: Sequence[str],
    max_rows: int,
    chunks: Sequence[memoryview | None] = (),
    limit: float = FLOAT64_MAX,
) -> np.ndarray:
    """Open Inference Protocol inputs -> an m-by-n matrix in signature order.

    ``chunks``: each input's binary tensor data, if the request has some; ``limit``: the
    largest magnitude a value may have (``API_MAX_FEATURE_MAGNITUDE``).
    """
    if type(payload) is not dict or type(payload.get("inputs")) is not list:
        raise InputError(
            ("inputs",), 'the request must be an object with an "inputs" array', "missing"
        )
    tensors = [
        _tensor(spec, index, max_rows, chunks[index] if chunks else None, limit)
        for index, spec in enumerate(payload["inputs"])
    ]
    names = [name for name, _ in tensors]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InputError(("inputs",), f"input names must be unique, repeated: {repeated}", "names")
    if len(tensors) == 1 and tensors[0][1].ndim == 2 and tensors[0][1].shape[1] == len(features):
        rows = tensors[0][1]
    else:
        by_name = dict(tensors)
        missing = [name for name in features if name not in by_name]
        unknown = [name for name in by_name if name not in features]
        if missing or unknown:
            message = (
                f"expected one [N, {len(features)}] tensor or one tensor per feature "
                f"({', '.join(features)}); missing {missing}, unknown {unknown}"
            )
            raise InputError(("inputs",), message, "tensor_names")
        columns = [by_name[name].reshape(-1) for name in features]
        if len({len(column) for column in columns}) != 1:
            raise InputError(("inputs",), "the feature tensors have different lengths", "shape")
        rows = np.column_stack(columns)
    if len(rows) == 0:
        raise InputError(("inputs",), "the request holds no rows", "too_short")
    if len(rows) > max_rows:
        raise TooManyRowsError(f"{len(rows)} rows exceed the limit of {max_rows} rows")
    return rows
