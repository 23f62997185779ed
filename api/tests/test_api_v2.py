"""The Open Inference Protocol in-process: binary tensor data, versions, parameters, content types.

Every request is sent both ways (the direct dispatch, and FastAPI's routing
when CORS is on and the request carries ``Origin``): the answers must be equal.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from .conftest import ClientFactory

pytestmark = pytest.mark.unit
ORIGIN = "http://ui.example"
ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5]])
INFER = "/v2/models/model/infer"


def framed(header: dict[str, Any], *tensors: bytes, length: int | None = None) -> dict[str, Any]:
    """A binary-data request: the JSON, then the tensors' bytes; ``length`` overrides the header."""
    text = json.dumps(header).encode()
    size = str(len(text) if length is None else length)
    return {
        "content": text + b"".join(tensors),
        "headers": {"Inference-Header-Content-Length": size},
    }


def binary_input(datatype: str, size: int, shape: list[int] | None = None) -> dict[str, Any]:
    parameters = {"binary_data_size": size}
    return {"name": "x", "shape": shape or [2, 4], "datatype": datatype, "parameters": parameters}


def both_ways(client: TestClient, path: str = INFER, **request: Any) -> Any:
    """The response through the direct dispatch, after checking FastAPI's routing gives the same."""
    headers = request.pop("headers", {})
    hot = client.post(path, headers=headers, **request)
    routed = client.post(path, headers={**headers, "Origin": ORIGIN}, **request)
    assert (hot.status_code, hot.content) == (routed.status_code, routed.content)
    for name in ("content-type", "inference-header-content-length", "allow"):
        assert hot.headers.get(name) == routed.headers.get(name), name
    return hot


@pytest.fixture
def v2(client_for: ClientFactory) -> TestClient:
    client: TestClient = client_for(cors_allow_origins=ORIGIN, max_body_bytes=4096)
    return client


def test_binary_inputs_and_outputs_answer_as_json_does(v2: TestClient) -> None:
    json_body = {
        "inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": ROWS.tolist()}]
    }
    expected = both_ways(v2, json=json_body).json()["outputs"]
    for datatype, layout in (("FP64", "<f8"), ("FP32", "<f4"), ("FP16", "<f2")):
        data = ROWS.astype(layout)
        header: dict[str, Any] = {"inputs": [binary_input(datatype, data.nbytes)]}
        answer = both_ways(v2, **framed(header, data.tobytes()))
        assert answer.status_code == 200, answer.text
        got = answer.json()["outputs"]
        assert got[0] == expected[0], datatype
        np.testing.assert_allclose(got[1]["data"], expected[1]["data"], rtol=1e-2)
    integers = np.array([[5, 3, 1, 0], [6, 3, 6, 2]])
    for datatype, layout in (("INT8", "<i1"), ("UINT64", "<u8"), ("INT32", "<i4")):
        data = integers.astype(layout)
        header = {"inputs": [binary_input(datatype, data.nbytes)], "outputs": [{"name": "predict"}]}
        answer = both_ways(v2, **framed(header, data.tobytes()))
        assert answer.json()["outputs"][0]["data"] == [0, 2], datatype
    header = {
        "inputs": [binary_input("FP64", ROWS.nbytes)],
        "parameters": {"binary_data_output": True},
    }
    answer = both_ways(v2, **framed(header, ROWS.tobytes()))
    assert answer.headers["content-type"] == "application/octet-stream"
    length = int(answer.headers["inference-header-content-length"])
    outputs = json.loads(answer.content[:length])["outputs"]
    assert [output["parameters"] for output in outputs] == [
        {"binary_data_size": 16},
        {"binary_data_size": 48},
    ]
    assert all("data" not in output for output in outputs)
    blob = answer.content[length:]
    assert np.frombuffer(blob[:16], "<i8").tolist() == expected[0]["data"]
    assert np.frombuffer(blob[16:], "<f8").tolist() == expected[1]["data"]


def test_an_output_may_refuse_binary_data_the_request_asks_for(v2: TestClient) -> None:
    body = {
        "inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": ROWS.tolist()}],
        "parameters": {"binary_data_output": True, "an_unknown_parameter": {"x": 1}},
        "outputs": [{"name": "predict", "parameters": {"binary_data": False}}],
    }
    answer = both_ways(v2, json=body)
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["outputs"][0]["data"] == [0, 2]


F32 = ROWS.astype("<f4").tobytes()
REFUSED = {
    "header longer than the body": (
        framed({"inputs": [binary_input("FP32", 32)]}, F32, length=10_000),
        "Inference-Header-Content-Length: must be the JSON's length",
    ),
    "header not a number": (
        framed({"inputs": []}, length=0) | {"headers": {"Inference-Header-Content-Length": "x"}},
        "Inference-Header-Content-Length:",
    ),
    "header shorter than the JSON": (
        framed({"inputs": [binary_input("FP32", 32)]}, F32, length=12),
        "body: ",
    ),
    "size not matching the shape": (
        framed({"inputs": [binary_input("FP32", 16, [2, 4])]}, F32[:16]),
        "inputs.0.parameters.binary_data_size: 16 bytes do not hold shape [2, 4] of FP32",
    ),
    "size not matching the datatype": (
        framed({"inputs": [binary_input("FP64", 32)]}, F32),
        "inputs.0.parameters.binary_data_size: 32 bytes do not hold shape [2, 4] of FP64",
    ),
    "size beyond the data": (
        framed({"inputs": [binary_input("FP32", 64)]}, F32),
        "inputs.0.parameters.binary_data_size: must be a byte count within the 32 bytes",
    ),
    "size not a count": (
        framed({"inputs": [binary_input("FP32", -1)]}, F32),
        "inputs.0.parameters.binary_data_size: must be a byte count",
    ),
    "bytes no input claims": (
        framed({"inputs": [binary_input("FP32", 32)]}, F32 + b"\0" * 4),
        "inputs: 4 bytes after the JSON belong to no input",
    ),
    "binary and data both": (
        framed({"inputs": [binary_input("FP32", 32) | {"data": ROWS.tolist()}]}, F32),
        "inputs.0.data: give data or parameters.binary_data_size, not both",
    ),
    "binary size without binary data": (
        {"json": {"inputs": [binary_input("FP32", 32)]}},
        "inputs.0.parameters.binary_data_size: given, but the body has no binary data",
    ),
    "NaN in binary data": (
        framed({"inputs": [binary_input("FP64", 64)]}, np.array([[1, np.nan, 3, 4]] * 2).tobytes()),
        "inputs.0.data.1: must be a finite number, got NaN",
    ),
    "infinity in binary FP32": (
        framed({"inputs": [binary_input("FP32", 32)]}, np.full(8, np.inf, "<f4").tobytes()),
        "inputs.0.data.0: must be a finite number, got Infinity",
    ),
    "BOOL": (
        framed({"inputs": [binary_input("BOOL", 8)]}, b"\1" * 8),
        "inputs.0.datatype: must be a numeric datatype",
    ),
    "binary_data_output not a boolean": (
        framed(
            {"inputs": [binary_input("FP32", 32)], "parameters": {"binary_data_output": 1}}, F32
        ),
        "parameters.binary_data_output: must be true or false",
    ),
    "classification": (
        {
            "json": {
                "inputs": [
                    {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}
                ],
                "outputs": [{"name": "predict", "parameters": {"classification": 2}}],
            }
        },
        "outputs.0.parameters.classification: classification is not supported",
    ),
    "shared memory output": (
        {
            "json": {
                "inputs": [
                    {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}
                ],
                "outputs": [{"name": "predict", "parameters": {"shared_memory_region": "r"}}],
            }
        },
        "outputs.0.parameters.shared_memory_region: shared memory is not supported",
    ),
    "sequence": (
        {
            "json": {
                "inputs": [
                    {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}
                ],
                "parameters": {"sequence_id": 7, "sequence_start": True},
            }
        },
        "parameters.sequence_id: sequences are not supported",
    ),
}


ONE = {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}
REFUSED |= {  # what the schema forbids is refused, null included
    "null outputs": ({"json": {"inputs": [ONE], "outputs": None}}, "outputs: must be an array"),
    "null parameters": ({"json": {"inputs": [ONE], "parameters": None}}, "parameters: must be an"),
    "id not a string": ({"json": {"inputs": [ONE], "id": 5}}, "id: must be a string"),
}


@pytest.mark.parametrize(("request_", "error"), REFUSED.values(), ids=REFUSED.keys())
def test_refusals_are_protocol_errors_naming_the_field(
    v2: TestClient, request_: dict[str, Any], error: str
) -> None:
    answer = both_ways(v2, **request_)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(error), answer.json()


def test_binary_data_counts_toward_the_body_and_row_limits(client_for: ClientFactory) -> None:
    small = client_for(max_body_bytes=1024, max_batch_rows=3)
    rows = np.ones((4, 4), "<f8")
    answer = small.post(
        INFER, **framed({"inputs": [binary_input("FP64", 128, [4, 4])]}, rows.tobytes())
    )
    assert answer.status_code == 413
    assert "rows" in answer.json()["error"]
    big = np.ones((40, 4), "<f8")
    answer = small.post(
        INFER, **framed({"inputs": [binary_input("FP64", big.nbytes, [40, 4])]}, big.tobytes())
    )
    assert answer.status_code == 413
    assert "body exceeds" in answer.json()["error"]


def test_content_types_a_v2_client_may_send(v2: TestClient) -> None:
    body = json.dumps(
        {
            "inputs": [
                {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}
            ]
        }
    )
    for content_type in (None, "application/json", "application/octet-stream"):
        headers = {"Content-Type": content_type} if content_type else {}
        assert both_ways(v2, content=body, headers=headers).status_code == 200, content_type
    wrong = both_ways(v2, content=body, headers={"Content-Type": "text/plain"})
    assert wrong.status_code == 415
    assert wrong.json() == {
        "error": "content type must be application/json or application/octet-stream, got text/plain"
    }
    assert v2.post("/predict", content=b'{"features": [1, 2, 3, 4]}').status_code == 415


def test_versioned_paths_answer_for_the_served_version_only(v2: TestClient) -> None:
    served = v2.get("/v2/models/model").json()["versions"][0]
    body = {
        "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}]
    }
    assert both_ways(v2, f"/v2/models/model/versions/{served}/infer", json=body).status_code == 200
    assert v2.get(f"/v2/models/model/versions/{served}").json()["versions"] == [served]
    assert v2.get(f"/v2/models/model/versions/{served}/ready").json() == {
        "name": "model",
        "ready": True,
    }
    for path in ("/v2/models/model/versions/0", "/v2/models/model/versions/0/ready"):
        answer = v2.get(path)
        assert answer.status_code == 404
        assert answer.json()["error"].endswith(f"(serving version {served!r})")
    wrong = both_ways(v2, "/v2/models/model/versions/0/infer", json=body)
    assert wrong.status_code == 404
    assert f"serving version {served!r}" in wrong.json()["error"]
    assert both_ways(v2, "/v2/models/other/versions/0/infer", json=body).status_code == 404


def test_other_extensions_and_methods_get_protocol_errors(v2: TestClient) -> None:
    assert "binary_tensor_data" in v2.get("/v2").json()["extensions"]
    for method, path in (("GET", "/v2/models/model/config"), ("POST", "/v2/repository/index")):
        answer = v2.request(method, path)
        assert answer.status_code == 404
        assert "is not part of this server" in answer.json()["error"]
    wrong_method = v2.get(INFER)
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"
    assert wrong_method.json() == {"error": "method not allowed: POST"}
    assert v2.delete("/v2/health/live").headers["allow"] == "GET, HEAD"
