"""Properties of the request parser, against the real app: any body gets an answer, never a 5xx.

Hypothesis generates JSON documents (NaN, Infinity, huge numbers, lone
surrogate escapes, repeated keys at any depth, shapes close to the valid
ones) and raw byte strings (invalid UTF-8 among them), and each is posted to
``/predict``, ``/predict/batch`` and ``/v2/models/model/infer`` twice: through
the direct dispatch and, with an ``Origin`` header, through FastAPI's routing.
Every answer is either a 2xx with finite probabilities summing to 1 per row, or
a 4xx JSON refusal with a request ID; both paths give the same status, and on
``/predict`` and ``/predict/batch`` a standard JSON body is answered with a 2xx
exactly when the published OpenAPI schema allows it.
``EXAMPLES`` examples per test, three tests: 3 x 2 x ``EXAMPLES`` requests.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from mlship.api.settings import Settings

from .conftest import running

pytestmark = pytest.mark.unit
EXAMPLES = 1000
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
PATHS = ["/predict", "/predict/batch", "/v2/models/model/infer"]
ORIGIN = "http://ui.example"
PROPERTIES = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,  # the same examples on every run: a failure here is reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Text with every code point, lone surrogates made frequent (json.dumps escapes them).
TEXT = st.text(st.characters(exclude_categories=()), max_size=8) | st.sampled_from(
    ["\ud800", "x\udfff", "\udc00\ud800", "\ud83d\ude00"]
)
KEYS = st.sampled_from([*FEATURES, "features", "instances", "inputs", "name", "data"]) | TEXT
NUMBERS = (
    st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.sampled_from([0, 5.1, 1e12, -1e12, 1e12 + 1, 1e308])
)
LEAVES = st.none() | st.booleans() | NUMBERS | TEXT


def _object(pairs: list[tuple[str, str]]) -> str:
    """An object from encoded members, keys possibly repeated (a dict could not hold them)."""
    return "{" + ",".join(f"{json.dumps(key)}:{value}" for key, value in pairs) + "}"


# JSON texts, not Python values: repeated keys and NaN must reach the parser as written.
DOCUMENTS = st.recursive(
    LEAVES.map(json.dumps),
    lambda inner: (
        st.lists(inner, max_size=5).map(lambda items: "[" + ",".join(items) + "]")
        | st.lists(st.tuples(KEYS, inner), max_size=5).map(_object)
    ),
    max_leaves=24,
)
ROW_VALUES = st.lists(NUMBERS, min_size=3, max_size=5)
ROWS = ROW_VALUES | st.fixed_dictionaries(dict.fromkeys(FEATURES, NUMBERS))
NEAR_VALID = st.one_of(
    ROWS.map(lambda row: {"features": row}),
    st.fixed_dictionaries(dict.fromkeys(FEATURES, NUMBERS)),
    st.lists(ROWS, min_size=1, max_size=4).map(lambda rows: {"instances": rows}),
    st.builds(
        lambda rows, name, datatype: {
            "inputs": [{"name": name, "shape": [len(rows), 4], "datatype": datatype, "data": rows}]
        },
        st.lists(ROW_VALUES, min_size=1, max_size=3),
        TEXT,
        st.sampled_from(["FP64", "FP32", "FP16", "INT32", "UINT8"]),
    ),
).map(json.dumps)  # NaN and Infinity as JavaScript names
BYTES = st.binary(max_size=64) | st.builds(
    lambda text, cut, junk: text.encode()[:cut] + junk + text.encode()[cut:],
    NEAR_VALID,
    st.integers(min_value=0, max_value=40),
    st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b'"', b",", b"\\ud800"]),
)


@pytest.fixture(scope="module")
def client(model_dir: Path) -> Iterator[TestClient]:
    settings_ = Settings(model_uri=str(model_dir), access_log=False, cors_allow_origins=(ORIGIN,))
    with running(settings_) as started:
        yield started


@pytest.fixture(scope="module")
def schemas(client: TestClient) -> dict[str, Draft202012Validator]:
    """The request body schemas the service publishes for the served model."""
    paths = client.get("/openapi.json").json()["paths"]
    return {
        path: Draft202012Validator(
            paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        )
        for path in ("/predict", "/predict/batch")
    }


def standard_json(body: bytes) -> Any:
    """``body`` as a JSON value, or ``None`` where no schema can speak for it.

    That is text that is not standard JSON (NaN, Infinity) or an object that repeats
    a key (a parsed value has no trace of it).
    """

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({key for key, _ in pairs}) < len(pairs):
            raise ValueError("repeated key")
        return dict(pairs)

    def refuse(name: str) -> None:
        raise ValueError(name)

    try:
        return json.loads(body, object_pairs_hook=unique, parse_constant=refuse)
    except (ValueError, RecursionError):
        return None


def probabilities(path: str, body: Any) -> list[list[float]]:
    if path == "/predict":
        return [list(body["probabilities"].values())]
    if path == "/predict/batch":
        return [list(row["probabilities"].values()) for row in body["predictions"]]
    (tensor,) = (output for output in body["outputs"] if output["name"] == "predict_proba")
    width = tensor["shape"][1]
    return [tensor["data"][start : start + width] for start in range(0, len(tensor["data"]), width)]


def answered_properly(
    client: TestClient, path: str, body: bytes, schemas: dict[str, Draft202012Validator]
) -> None:
    statuses = []
    for origin in ({}, {"Origin": ORIGIN}):  # the dispatch, then FastAPI's routing
        response = client.post(
            path, content=body, headers={"Content-Type": "application/json", **origin}
        )
        status = response.status_code
        assert status < 500, (path, body, response.text)
        assert response.headers["content-type"] == "application/json", (path, body)
        assert len(response.headers["x-request-id"]) == 32
        answer = response.json()
        if status < 300:
            for row in probabilities(path, answer):
                assert all(math.isfinite(p) and 0 <= p <= 1 for p in row), (body, row)
                assert math.isclose(sum(row), 1.0, rel_tol=1e-6), (body, row)
        else:
            assert 400 <= status < 500, (path, body, status)
            assert answer.get("error" if path.startswith("/v2") else "detail"), answer
        statuses.append(status)
    assert statuses[0] == statuses[1], (path, body, statuses)
    value = standard_json(body)
    if path in schemas and value is not None:  # the schema tells the truth, both ways
        assert schemas[path].is_valid(value) == (statuses[0] < 300), (path, body, statuses)


@PROPERTIES
@given(path=st.sampled_from(PATHS), document=DOCUMENTS)
def test_any_json_document_is_answered_or_refused(
    client: TestClient, schemas: dict[str, Draft202012Validator], path: str, document: str
) -> None:
    answered_properly(client, path, document.encode(), schemas)


@PROPERTIES
@given(path=st.sampled_from(PATHS), document=NEAR_VALID)
def test_bodies_close_to_valid_ones_are_answered_or_refused(
    client: TestClient, schemas: dict[str, Draft202012Validator], path: str, document: str
) -> None:
    answered_properly(client, path, document.encode(), schemas)


@PROPERTIES
@given(path=st.sampled_from(PATHS), body=BYTES)
def test_any_byte_string_is_answered_or_refused(
    client: TestClient, schemas: dict[str, Draft202012Validator], path: str, body: bytes
) -> None:
    answered_properly(client, path, body, schemas)


def test_the_generators_reach_both_outcomes(
    client: TestClient, schemas: dict[str, Draft202012Validator]
) -> None:
    """A property that only ever saw refusals would prove little: valid bodies are answered."""
    valid = json.dumps({"features": [5.1, 3.5, 1.4, 0.2]}).encode()
    for path, body in (("/predict", valid), ("/predict", valid.replace(b"5.1", b"NaN"))):
        answered_properly(client, path, body, schemas)
