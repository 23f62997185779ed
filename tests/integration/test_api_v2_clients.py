"""Open Inference Protocol conformance, proven with real clients against a real ``mlship-api``.

The service runs a baked Iris model (as an image would: ``registered_model.json``
names it IrisClassifier, version 1) behind an API key. Two clients call it:
NVIDIA's ``tritonclient`` (its sync client on geventhttpclient and its asyncio
client on aiohttp, the same scenarios for both), and a KServe-style client
written here from the protocol's REST specification with ``httpx``. Answers
are compared with the scikit-learn pipeline's own ``predict_proba``.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import mlflow.sklearn
import numpy as np
import pytest
import tritonclient.http as triton  # type: ignore[import-untyped]
import tritonclient.http.aio as triton_aio  # type: ignore[import-untyped]
from tritonclient.utils import InferenceServerException  # type: ignore[import-untyped]

from mlship.api.source import ModelRef, write_registry_metadata
from tests.integration.api_process import ApiProcess, api_process
from tests.support.models import FEATURES, iris, save_model_dir

pytestmark = [pytest.mark.integration, pytest.mark.slow]
NAME, VERSION, KEY = "IrisClassifier", "1", "v2-client-key"
AUTH = {"X-API-Key": KEY}


def auth() -> dict[str, str]:
    """A fresh headers dict: tritonclient adds Inference-Header-Content-Length to the one given."""
    return dict(AUTH)


@dataclass
class Served:
    api: ApiProcess
    features: np.ndarray  # the Iris rows
    expected: Callable[[np.ndarray], np.ndarray]  # the pipeline's own probabilities

    def error(self, method: str, path: str, **kwargs: Any) -> str:
        """The server's own error message for a request, as a plain HTTP client sees it."""
        response = httpx.request(method, self.api.url + path, headers=AUTH, timeout=30, **kwargs)
        assert response.status_code >= 400, response.text
        message: str = response.json()["error"]
        return message


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    model = save_model_dir(tmp_path_factory.mktemp("baked") / "model")
    ref = ModelRef(NAME, VERSION, None, ("production",), f"models:/{NAME}/{VERSION}")
    write_registry_metadata(ref, model)
    pipeline = mlflow.sklearn.load_model(str(model))
    with api_process(tmp_path_factory.mktemp("api"), API_MODEL_URI=str(model), API_KEYS=KEY) as api:
        api.wait_for("/health/ready", 200, timeout=120)
        yield Served(api, iris()[0], pipeline.predict_proba)


class Blocking:
    """The asyncio client's coroutines run to completion, so one scenario drives both clients."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = self.loop.run_until_complete(self._open(url))

    @staticmethod
    async def _open(url: str) -> Any:
        return triton_aio.InferenceServerClient(url)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.client, name)
        return lambda *args, **kwargs: self.loop.run_until_complete(method(*args, **kwargs))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()


@pytest.fixture(params=["sync", "aio"])
def client(request: pytest.FixtureRequest, served: Served) -> Iterator[Any]:
    url = served.api.url.removeprefix("http://")
    made: Any = triton.InferenceServerClient(url) if request.param == "sync" else Blocking(url)
    yield made
    made.close()


def test_server_live_ready_and_metadata(client: Any) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    metadata = client.get_server_metadata()
    assert metadata["name"] == "mlship-api"
    assert "binary_tensor_data" in metadata["extensions"]


def test_model_metadata_and_readiness_by_version(client: Any) -> None:
    for version in ("", VERSION):
        metadata = client.get_model_metadata(NAME, version)
        assert metadata["name"] == NAME
        assert metadata["versions"] == [VERSION]
        assert metadata["inputs"][0]["shape"] == [-1, len(FEATURES)]
        assert client.is_model_ready(NAME, version)
    assert not client.is_model_ready(NAME, "2")
    assert not client.is_model_ready("NoSuchModel")
    with pytest.raises(InferenceServerException) as wrong:
        client.get_model_metadata(NAME, "2")
    assert "version '2'" in wrong.value.message()
    assert "serving version '1'" in wrong.value.message()


@pytest.mark.parametrize("datatype", ["FP32", "FP64"])
@pytest.mark.parametrize(
    "case",
    [
        (False, [("predict", False), ("predict_proba", False)], ""),  # all JSON
        (True, None, ""),  # tritonclient's default: binary in, every output binary
        (True, [("predict", True)], VERSION),  # one output, binary, on the versioned path
        (False, [("predict_proba", True), ("predict", False)], VERSION),  # mixed
    ],
    ids=["json", "binary", "select-binary-versioned", "mixed"],
)
def test_infer_answers_as_the_model_does(
    client: Any, served: Served, datatype: str, case: tuple[bool, list[Any] | None, str]
) -> None:
    binary_in, outputs, version = case
    rows = served.features.astype(np.float32 if datatype == "FP32" else np.float64)
    tensor = triton.InferInput("input-0", list(rows.shape), datatype)
    tensor.set_data_from_numpy(rows, binary_data=binary_in)
    requested = [triton.InferRequestedOutput(name, binary_data=b) for name, b in outputs or []]
    result = client.infer(
        NAME, [tensor], model_version=version, outputs=requested or None, headers=auth()
    )
    expected = served.expected(rows.astype(np.float64))
    names = [name for name, _ in outputs] if outputs else ["predict", "predict_proba"]
    assert [output["name"] for output in result.get_response()["outputs"]] == names
    np.testing.assert_array_equal(result.as_numpy("predict"), expected.argmax(axis=1))
    if "predict_proba" in names:
        np.testing.assert_allclose(result.as_numpy("predict_proba"), expected, rtol=1e-9)
    else:
        assert result.as_numpy("predict_proba") is None
    assert result.get_response()["model_version"] == VERSION


def test_per_feature_tensors_and_integer_datatypes(client: Any, served: Served) -> None:
    rows = np.round(served.features[::10]).astype(np.int32)
    tensors = []
    for column, name in enumerate(FEATURES):
        tensor = triton.InferInput(name, [len(rows)], "INT32")
        tensor.set_data_from_numpy(rows[:, column], binary_data=column % 2 == 0)
        tensors.append(tensor)
    result = client.infer(NAME, tensors, headers=auth())
    expected = served.expected(rows.astype(np.float64))
    np.testing.assert_allclose(result.as_numpy("predict_proba"), expected, rtol=1e-9)


def test_refusals_carry_the_servers_message(client: Any, served: Served) -> None:
    rows = served.features[:2]
    tensor = triton.InferInput("input-0", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(rows)

    def refused(*args: Any, **kwargs: Any) -> str:
        with pytest.raises(InferenceServerException) as caught:
            client.infer(*args, **{"headers": auth(), **kwargs})
        message: str = caught.value.message()
        return message

    body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]}
    unknown = served.error("POST", "/v2/models/NoSuchModel/infer", json=body)
    assert refused("NoSuchModel", [tensor]) == unknown
    assert "NoSuchModel" in unknown
    assert "serving version '1'" in refused(NAME, [tensor], model_version="7")
    assert "API key" in refused(NAME, [tensor], headers={})
    classify = [triton.InferRequestedOutput("predict", class_count=2)]
    assert "classification is not supported" in refused(NAME, [tensor], outputs=classify)
    assert "priorities are not supported" in refused(NAME, [tensor], priority=1)
    assert "sequences are not supported" in refused(NAME, [tensor], sequence_id=3)
    text = triton.InferInput("input-0", [1], "BYTES")
    text.set_data_from_numpy(np.array([b"5.1,3.5,1.4,0.2"], dtype=object))
    assert "must be a numeric datatype" in refused(NAME, [text])
    nan = triton.InferInput("input-0", [1, 4], "FP32")
    nan.set_data_from_numpy(np.array([[5.1, np.nan, 1.4, 0.2]], dtype=np.float32))
    assert refused(NAME, [nan]) == "inputs.0.data.1: must be a finite number, got NaN"
    with pytest.raises(InferenceServerException) as config:
        client.get_model_config(NAME)
    assert "not part of this server" in config.value.message()


class KServeClient:
    """A client written from the Open Inference Protocol's REST specification alone."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, headers=AUTH, timeout=30)

    def model_path(self, version: str | None = None) -> str:
        return f"/v2/models/{NAME}" + (f"/versions/{version}" if version else "")

    def infer(self, body: dict[str, Any], version: str | None = None) -> httpx.Response:
        return self.http.post(self.model_path(version) + "/infer", json=body)

    def infer_binary(
        self, body: dict[str, Any], tensors: list[bytes], version: str | None = None
    ) -> tuple[dict[str, Any], bytes, httpx.Response]:
        """The binary tensor data extension: JSON, then each tensor's bytes in input order."""
        header = json.dumps(body).encode()
        response = self.http.post(
            self.model_path(version) + "/infer",
            content=header + b"".join(tensors),
            headers={
                "Content-Type": "application/octet-stream",
                "Inference-Header-Content-Length": str(len(header)),
            },
        )
        length = response.headers.get("Inference-Header-Content-Length")
        if length is None:
            return response.json(), b"", response
        return (
            json.loads(response.content[: int(length)]),
            response.content[int(length) :],
            response,
        )


@pytest.fixture
def kserve(served: Served) -> Iterator[KServeClient]:
    made = KServeClient(served.api.url)
    yield made
    made.http.close()


def tensor(data: list[Any], shape: list[int], datatype: str = "FP64", name: str = "x") -> Any:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def test_kserve_health_and_metadata_shapes(kserve: KServeClient) -> None:
    http = kserve.http
    assert http.get("/v2/health/live").json() == {"live": True}
    assert http.get("/v2/health/ready").json() == {"ready": True}
    server = http.get("/v2").json()
    assert set(server) == {"name", "version", "extensions"}
    assert isinstance(server["extensions"], list)
    for version in (None, VERSION):
        model = http.get(kserve.model_path(version)).json()
        assert {"name", "versions", "platform", "inputs", "outputs"} <= set(model)
        for meta in model["inputs"] + model["outputs"]:
            assert {"name", "datatype", "shape"} <= set(meta)
        assert http.get(kserve.model_path(version) + "/ready").status_code == 200
    missing = http.get(kserve.model_path("2") + "/ready")
    assert missing.status_code == 404
    assert set(missing.json()) == {"error"}


def test_kserve_infer_shapes_datatypes_and_parameters(kserve: KServeClient, served: Served) -> None:
    rows = served.features[::30]
    expected = served.expected(rows)
    body = {
        "id": "request-1",
        "parameters": {"custom": {"anything": [1, 2]}, "binary_data_output": False},
        "inputs": [tensor(rows.tolist(), list(rows.shape))],  # nested row-major data
        "outputs": [{"name": "predict_proba", "parameters": {"unknown": True}}],
    }
    answer = kserve.infer(body, VERSION)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["id"], result["model_name"], result["model_version"]) == ("request-1", NAME, "1")
    (output,) = result["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == (
        "predict_proba",
        "FP64",
        list(expected.shape),
    )
    np.testing.assert_allclose(np.reshape(output["data"], output["shape"]), expected, rtol=1e-9)
    columns = {
        "inputs": [
            tensor(rows[:, i].tolist(), [len(rows), 1], "FP32", name)
            for i, name in enumerate(FEATURES)
        ]
    }
    by_feature = kserve.infer(columns).json()["outputs"][0]
    assert by_feature == {
        "name": "predict",
        "datatype": "INT64",
        "shape": [len(rows)],
        "data": expected.argmax(axis=1).tolist(),
    }
    small = np.array([[5, 3, 1, 0], [7, 3, 5, 2]], dtype=np.uint8)
    for datatype in ("UINT8", "INT16", "FP16"):
        answer = kserve.infer({"inputs": [tensor(small.ravel().tolist(), [2, 4], datatype)]})
        probabilities = answer.json()["outputs"][1]["data"]
        np.testing.assert_allclose(probabilities, served.expected(small.astype(float)).ravel())


def test_kserve_binary_tensor_data_by_hand(kserve: KServeClient, served: Served) -> None:
    rows = served.features[:3]
    expected = served.expected(rows)
    body = {
        "inputs": [
            {
                "name": "x",
                "shape": [3, 4],
                "datatype": "FP64",
                "parameters": {"binary_data_size": rows.astype("<f8").nbytes},
            }
        ],
        "outputs": [
            {"name": "predict", "parameters": {"binary_data": True}},
            {"name": "predict_proba"},
        ],
    }
    header, blob, response = kserve.infer_binary(body, [rows.astype("<f8").tobytes()])
    assert response.headers["content-type"] == "application/octet-stream"
    predict, proba = header["outputs"]
    assert "data" not in predict
    assert predict["parameters"]["binary_data_size"] == 3 * 8
    assert list(struct.unpack("<3q", blob)) == expected.argmax(axis=1).tolist()
    np.testing.assert_allclose(np.reshape(proba["data"], proba["shape"]), expected, rtol=1e-9)
    mixed = {
        "inputs": [
            {"name": name, "shape": [3], "datatype": "FP64", "parameters": {"binary_data_size": 24}}
            for name in FEATURES
        ],
        "parameters": {"binary_data_output": True},
    }
    columns = [rows[:, i].astype("<f8").tobytes() for i in range(4)]
    header, blob, _ = kserve.infer_binary(mixed, columns, VERSION)
    sizes = [output["parameters"]["binary_data_size"] for output in header["outputs"]]
    assert sizes == [24, 72]
    np.testing.assert_allclose(np.frombuffer(blob[24:], "<f8").reshape(3, 3), expected, rtol=1e-9)


def with_parameters(datatype: str, **parameters: Any) -> Any:
    return {"name": "x", "shape": [1, 4], "datatype": datatype, "parameters": parameters}


@pytest.mark.parametrize(
    ("body", "tensors", "field"),
    [
        ({"inputs": [tensor([1, 2, 3, 4], [1, 4], "BOOL")]}, [], "inputs.0.datatype"),
        ({"inputs": [tensor([1, 2, 3, 4], [1, 4])], "parameters": []}, [], "parameters"),
        (
            {"inputs": [tensor([1, 2, 3, 4], [1, 4])], "parameters": {"timeout": 5}},
            [],
            "parameters.timeout",
        ),
        (
            {"inputs": [with_parameters("FP32", binary_data_size=12)]},
            [b"\0" * 12],
            "inputs.0.parameters.binary_data_size",
        ),
        (
            {"inputs": [with_parameters("FP64", shared_memory_region="r")]},
            [],
            "inputs.0.parameters.shared_memory_region",
        ),
    ],
    ids=["bool", "parameters-type", "timeout", "binary-size", "shared-memory"],
)
def test_kserve_errors_are_protocol_error_objects(
    kserve: KServeClient, body: dict[str, Any], tensors: list[bytes], field: str
) -> None:
    response = kserve.infer_binary(body, tensors)[2] if tensors else kserve.infer(body)
    assert response.status_code == 400
    assert set(response.json()) == {"error"}
    assert response.json()["error"].startswith(field + ":"), response.json()


def test_kserve_content_types_and_unsupported_paths(kserve: KServeClient, served: Served) -> None:
    body = json.dumps({"inputs": [tensor(served.features[0].tolist(), [1, 4])]})
    path = kserve.model_path() + "/infer"
    untyped = httpx.post(served.api.url + path, content=body, headers=AUTH)
    assert untyped.status_code == 200, untyped.text
    wrong = kserve.http.post(path, content=body, headers={"Content-Type": "text/plain"})
    assert wrong.status_code == 415
    assert "application/json" in wrong.json()["error"]
    for method, unsupported in (
        ("GET", kserve.model_path() + "/config"),
        ("POST", "/v2/repository/index"),
        ("GET", "/v2/systemsharedmemory/status"),
    ):
        answer = kserve.http.request(method, unsupported)
        assert answer.status_code == 404
        assert "not part of this server" in answer.json()["error"]
    assert kserve.http.get(path).status_code == 405
    assert served.error("GET", path) == "method not allowed: POST"
