"""The compiled lane (lane.pyx) answers and counts exactly as the Python lane does.

Each test runs the same input through both lanes (``API_COMPILED_LANE`` on and
off, or a ``ServedModel`` built with and without its kernel) and compares the
answers byte for byte and the metrics value for value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from api.tests.conftest import running, wait_ready
from mlship.api import compiled
from mlship.api.app import app_from_environment, create_app, entry_from_environment
from mlship.api.artifact import Artifact
from mlship.api.hotpath import ServiceApp
from mlship.api.metrics import Metrics
from mlship.api.served import ServedModel
from mlship.api.settings import Settings
from mlship.api.source import ModelRef
from tests.support.components import missing
from tests.support.models import iris

pytestmark = pytest.mark.unit
FEATURES, TARGET, CLASSES = iris()
NAMES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
JSON = {"content-type": "application/json"}
BIG_INT = "1" + "0" * 400
BODIES = {
    "array": b'{"features": [5.1, 3.5, 1.4, 0.2]}',
    "integers": b'{"features": [5, 3, 1, 0]}',
    "named": b'{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}',
    "named in features": b'{"features": {"sepal_length": 5.1, "sepal_width": 3.5, '
    b'"petal_length": 1.4, "petal_width": 0.2}}',
    "extreme": b'{"features": [1e300, -1e300, 0, -0.0]}',
    "NaN": b'{"features": [5.1, 3.5, 1.4, NaN]}',
    "Infinity": b'{"features": [5.1, 3.5, 1.4, Infinity]}',
    "overflow": b'{"features": [5.1, 3.5, 1.4, 1e400]}',
    "huge integer": b'{"features": [5.1, 3.5, 1.4, ' + BIG_INT.encode() + b"]}",
    "boolean": b'{"features": [5.1, 3.5, 1.4, true]}',
    "string": b'{"features": [5.1, 3.5, 1.4, "0.2"]}',
    "null": b'{"features": [5.1, 3.5, 1.4, null]}',
    "nested": b'{"features": [5.1, 3.5, 1.4, [0.2]]}',
    "short": b'{"features": [5.1, 3.5, 1.4]}',
    "empty row": b'{"features": []}',
    "extra key": b'{"features": [5.1, 3.5, 1.4, 0.2], "x": 1}',
    "missing name": b'{"sepal_length": 5.1}',
    "unknown name": b'{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "x": 0.2}',
    "array body": b"[5.1, 3.5, 1.4, 0.2]",
    "not JSON": b"{features",
    "empty body": b"",
}


Calls = list[tuple[bytes, dict[str, str]]]


@pytest.fixture(scope="module", autouse=True)
def lane_built() -> None:
    if not compiled.AVAILABLE:
        missing("the compiled lane", "install mlship-api with a C compiler (make install)")


def test_the_lane_was_built_from_this_source() -> None:
    from mlship.api import lane  # noqa: PLC0415 (present: checked by lane_built)

    source = Path(lane.__file__).with_name("lane.pyx")
    expected = hashlib.sha256(source.read_bytes()).hexdigest()
    assert expected == lane.SOURCE_SHA256, "the compiled lane is stale: run make install"


def exchange(settings: Settings, calls: Calls) -> dict[str, Any]:
    """Every call's status, headers and body, then the metrics they left."""
    with running(settings) as client:
        answers = []
        for body, headers in calls:
            response = client.post("/predict", content=body, headers=headers)
            answers.append(
                (response.status_code, sorted(response.headers.items()), response.content)
            )
        # Creation times and durations differ from run to run; counts and values must not.
    metrics = "\n".join(
        line
        for line in client.get("/metrics").text.splitlines()
        if "_created" not in line and "duration" not in line
    )
    kept = (
        "mlship_predictions_total",
        "mlship_http_requests_total{",
        "mlship_prediction_confidence",
    )
    # The compiled lane creates its 5xx series up front (at zero); the Python lane on first use.
    counted = [line for line in metrics.splitlines() if not line.endswith('xx"} 0.0')]
    return {
        "answers": answers,
        "metrics": sorted(line for line in counted if line.startswith(kept)),
        "features": sorted(line for line in metrics.splitlines() if "feature_quantile" in line),
    }


def both_lanes(
    model_dir: Path, calls: Calls, **overrides: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    values = {"model_uri": str(model_dir), "access_log": False, **overrides}
    fast = exchange(Settings(**values, compiled_lane=True), calls)
    slow = exchange(Settings(**values, compiled_lane=False), calls)
    return fast, slow


def without_request_ids(answers: list[Any]) -> list[Any]:
    return [
        (status, [(k, v) for k, v in headers if k != "x-request-id"], body)
        for status, headers, body in answers
    ]


def test_every_body_gets_the_same_answer_and_metrics_from_both_lanes(model_dir: Path) -> None:
    calls = [
        (body, {**JSON, "x-request-id": f"call-{n}"}) for n, body in enumerate(BODIES.values())
    ]
    fast, slow = both_lanes(model_dir, calls)
    for name, fast_answer, slow_answer in zip(
        BODIES, fast["answers"], slow["answers"], strict=True
    ):
        assert fast_answer == slow_answer, name
    assert fast["metrics"] == slow["metrics"]
    assert fast["features"] == slow["features"]
    statuses = dict(zip(BODIES, (answer[0] for answer in fast["answers"]), strict=True))
    assert [name for name, status in statuses.items() if status == 200] == [
        "array", "integers", "named", "named in features", "extreme",
    ]  # fmt: skip


def test_request_ids_are_reused_when_safe_and_generated_otherwise(model_dir: Path) -> None:
    body = BODIES["array"]
    calls = [
        (body, {**JSON, "x-request-id": "gateway-1.2:3_4"}),
        (body, {**JSON, "x-request-id": "not safe!"}),
        (body, {**JSON, "x-request-id": "x" * 129}),
        (body, JSON),
        (body, JSON),
    ]
    fast, slow = both_lanes(model_dir, calls)
    assert without_request_ids(fast["answers"]) == without_request_ids(slow["answers"])
    ids = [dict(headers)["x-request-id"] for _, headers, _ in fast["answers"]]
    assert ids[0] == "gateway-1.2:3_4"
    generated = ids[1:]
    assert all(len(value) == 32 and int(value, 16) >= 0 for value in generated)
    assert len(set(generated)) == len(generated)


def test_refusals_before_the_body_go_to_the_python_lane(model_dir: Path) -> None:
    body = BODIES["array"]
    calls = [
        (body, {"content-type": "text/plain"}),
        (body, {"content-type": "application/json; charset=utf-8"}),
        (body, {"content-type": "application/vnd.api+json"}),
        (b'{"features": [' + b"1.0, " * 400 + b"1.0]}", JSON),
    ]
    fast, slow = both_lanes(model_dir, calls, max_body_bytes=1024)
    assert without_request_ids(fast["answers"]) == without_request_ids(slow["answers"])
    assert [answer[0] for answer in fast["answers"]] == [415, 200, 200, 413]


def test_cross_origin_calls_get_the_cors_headers(model_dir: Path) -> None:
    origin = "https://dashboard.example"
    calls = [(BODIES["array"], {**JSON, "origin": origin})]
    fast, slow = both_lanes(model_dir, calls, cors_allow_origins=origin)
    assert without_request_ids(fast["answers"]) == without_request_ids(slow["answers"])
    assert ("access-control-allow-origin", origin) in fast["answers"][0][1]


def test_a_body_in_several_messages_is_replayed_to_the_python_lane(model_dir: Path) -> None:
    def parts() -> Iterator[bytes]:
        yield b'{"features": '
        yield b"[5.1, 3.5, 1.4, 0.2]}"

    with running(Settings(model_uri=str(model_dir), access_log=False)) as client:
        response = client.post("/predict", content=parts(), headers=JSON)
        single = client.post("/predict", content=BODIES["array"], headers=JSON)
    assert response.status_code == 200
    assert response.content == single.content


def test_successful_calls_are_logged_by_the_python_lane_at_debug_level(
    model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="mlship.api.access")
    with running(Settings(model_uri=str(model_dir))) as client:
        response = client.post("/predict", content=BODIES["array"], headers=JSON)
    assert response.status_code == 200
    lines = [record for record in caplog.records if record.name == "mlship.api.access"]
    assert any(
        getattr(record, "request_id", None) == response.headers["x-request-id"] for record in lines
    )


# ---------------------------------------------------------------- the kernel alone
def fitted(estimator: Any, target: np.ndarray = TARGET) -> Any:
    return estimator.fit(FEATURES, target)


ESTIMATORS = {
    "scaler + multinomial (C arithmetic)": lambda: fitted(
        make_pipeline(StandardScaler(), LogisticRegression())
    ),
    "scaler + binary (C arithmetic)": lambda: fitted(
        make_pipeline(StandardScaler(), LogisticRegression()), (TARGET == 1).astype(int)
    ),
    "random forest (its own predict_proba)": lambda: fitted(
        RandomForestClassifier(n_estimators=5, random_state=0)
    ),
}


def served(estimator: Any, *, lane: bool) -> ServedModel:
    classes = tuple(CLASSES[: len(estimator.classes_)])
    quantiles = {
        name: np.quantile(FEATURES[:, index], np.linspace(0.1, 0.9, 9))
        for index, name in enumerate(NAMES)
    }
    artifact = Artifact(
        estimator, tuple(NAMES), classes, quantiles, FEATURES[::25], None, {}, "run"
    )
    ref = ModelRef("IrisClassifier", "7", "run", ("production",), "models:/IrisClassifier/7")
    return ServedModel.build(ref, artifact, Metrics(), lane=lane)


@pytest.mark.parametrize("build", ESTIMATORS.values(), ids=ESTIMATORS.keys())
def test_the_kernel_predicts_and_counts_as_infer_one_does(build: Any) -> None:
    estimator = build()
    fast, slow = served(estimator, lane=True), served(estimator, lane=False)
    assert fast.kernel is not None
    assert slow.kernel is None
    assert fast.kernel.compiled == isinstance(estimator, Pipeline)
    rows = [*FEATURES.tolist(), [1e30, -1e30, 0.0, -0.0], [-50.0, 50.0, 1e-300, 3.0]]
    for row in rows:
        assert fast.infer_one(row) == slow.infer_one(row)
    assert model_metrics(fast) == model_metrics(slow)
    assert "mlship_predictions_total" in "".join(model_metrics(fast))


def model_metrics(model: ServedModel) -> list[str]:
    """Every model metric but creation and inference times, which differ from run to run."""
    text = model.metrics.render()[0].decode()
    return [line for line in text.splitlines() if "_created" not in line and "duration" not in line]


def test_a_kernel_refuses_rows_of_the_wrong_width() -> None:
    model = served(ESTIMATORS["scaler + multinomial (C arithmetic)"](), lane=True)
    assert model.kernel is not None
    with pytest.raises(ValueError, match="expected 4 values, got 3"):
        model.kernel.infer_one([1.0, 2.0, 3.0])


def test_the_server_entry_is_the_lane_in_front_of_the_app(model_dir: Path) -> None:
    app = create_app(Settings(model_uri=str(model_dir), access_log=False))
    entry = app.entry
    assert entry is not app  # what mlship-api hands to uvicorn (as an ASGI 3 app)

    async def asgi3(scope: Any, receive: Any, send: Any) -> None:
        # TestClient cannot tell a compiled coroutine method is ASGI 3 (mlship-api names it).
        await entry(scope, receive, send)

    with TestClient(asgi3) as client:  # lifespan too goes through the lane to the app
        wait_ready(client)
        answer = client.post("/predict", content=BODIES["array"], headers=JSON)
        refused = client.post("/predict", content=BODIES["NaN"], headers=JSON)
        model = client.get("/model")
    assert answer.status_code == 200
    assert answer.json()["class_name"] == "setosa"
    assert refused.status_code == 422
    assert model.json()["loaded"] is True


def test_without_the_lane_built_python_serves_and_says_so(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(compiled, "AVAILABLE", False)
    app = create_app(Settings(model_uri=str(model_dir), access_log=False))
    assert app.entry is app
    with TestClient(app) as client:
        wait_ready(client)
        answer = client.post("/predict", content=BODIES["array"], headers=JSON)
    assert answer.status_code == 200
    assert any("compiled lane was not built" in record.getMessage() for record in caplog.records)


def test_with_api_keys_the_lane_checks_the_key_as_the_python_lane_does(model_dir: Path) -> None:
    body = BODIES["array"]
    calls = [
        (body, {**JSON, "x-api-key": "first-key"}),
        (body, {**JSON, "authorization": "Bearer second-key"}),
        (body, {**JSON, "authorization": "bearer  second-key "}),
        (body, JSON),
        (body, {**JSON, "x-api-key": "wrong"}),
        (body, {**JSON, "authorization": "Basic first-key"}),
        (body, {**JSON, "x-api-key": "", "authorization": "Bearer first-key"}),
        (BODIES["NaN"], {**JSON, "x-api-key": "first-key"}),
    ]
    fast, slow = both_lanes(model_dir, calls, keys=("first-key", "second-key"))
    assert without_request_ids(fast["answers"]) == without_request_ids(slow["answers"])
    assert fast["metrics"] == slow["metrics"]
    assert [answer[0] for answer in fast["answers"]] == [200, 200, 200, 401, 403, 401, 200, 422]


def test_keys_keep_the_lane_and_a_rate_limit_keeps_predictions_in_python(model_dir: Path) -> None:
    with_keys = create_app(Settings(model_uri=str(model_dir), keys=("first-key",)))
    assert with_keys.entry is not with_keys
    limited = create_app(Settings(model_uri=str(model_dir), rate_limit_per_second=100))
    assert limited.entry is limited


def test_mlship_api_serves_the_entry_and_uvicorn_users_get_the_app(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_MODEL_URI", str(model_dir))
    assert isinstance(entry_from_environment(), compiled.PredictLane)
    assert isinstance(app_from_environment(), ServiceApp)  # uvicorn recognises it as ASGI 3
