"""The served form: ONNX Runtime by default, scikit-learn for a model without an ONNX form,
a clear refusal for a broken one, and adaptive batching that changes nothing but the calls."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from mlship.api.app import create_app
from mlship.api.batching import AdaptiveBatcher
from mlship.api.settings import Settings

from .conftest import ClientFactory

pytestmark = pytest.mark.unit
SEED = {"features": [5.1, 3.5, 1.4, 0.2]}


def with_serving(model_dir: Path, target: Path, serving: dict[str, object]) -> Path:
    """A copy of ``model_dir`` whose MLmodel names ``serving`` as its served form."""
    shutil.copytree(model_dir, target)
    mlmodel = yaml.safe_load((target / "MLmodel").read_text())
    mlmodel["metadata"]["serving"] = serving
    (target / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    return target


def runtime_gauge(text: str) -> dict[str, float]:
    return {
        sample.labels["runtime"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "mlship_model_runtime"
    }


def test_the_onnx_form_serves_by_default(client_for: ClientFactory) -> None:
    client = client_for()
    described = client.get("/model").json()
    assert (described["runtime"], described["runtime_note"]) == ("onnx", None)
    assert client.get("/v2/models/model").json()["platform"] == "mlship-onnx"
    assert runtime_gauge(client.get("/metrics").text) == {"onnx": 1.0}


def test_a_model_without_an_onnx_form_is_served_by_scikit_learn_and_says_why(
    client_for: ClientFactory, model_dir: Path, tmp_path: Path
) -> None:
    reason = "skl2onnx: unsupported model type"
    fallback = with_serving(model_dir, tmp_path / "model", {"runtime": "sklearn", "reason": reason})
    (fallback / "model.onnx").unlink()
    client = client_for(model_uri=str(fallback))
    served = client.post("/predict", json=SEED).json()
    reference = client_for().post("/predict", json=SEED).json()
    assert served["class_name"] == reference["class_name"] == "setosa"
    for name, probability in reference["probabilities"].items():
        assert served["probabilities"][name] == pytest.approx(probability, rel=1e-9)
    described = client.get("/model").json()
    assert (described["runtime"], described["runtime_note"]) == ("sklearn", reason)
    assert runtime_gauge(client.get("/metrics").text) == {"sklearn": 1.0}


def test_a_served_form_that_is_missing_is_refused_with_its_reason(
    client_for: ClientFactory, model_dir: Path, tmp_path: Path
) -> None:
    broken = with_serving(
        model_dir, tmp_path / "model", {"runtime": "onnx", "onnx_model": "gone.onnx"}
    )
    client = client_for(model_uri=str(broken), _ready=False)
    deadline = time.monotonic() + 30
    while not client.get("/model").json()["failed_versions"]:
        assert time.monotonic() < deadline, "the broken version was never rejected"
        time.sleep(0.05)
    failures = client.get("/model").json()["failed_versions"]
    assert any("gone.onnx" in reason for reason in failures.values())
    assert client.get("/health/ready").status_code == 503


def test_the_batcher_coalesces_concurrent_calls_and_splits_the_answers() -> None:
    calls: list[int] = []

    def infer(rows: np.ndarray) -> np.ndarray:
        calls.append(len(rows))
        return rows * 2

    async def scenario() -> list[np.ndarray]:
        batcher = AdaptiveBatcher(infer, max_rows=64, max_wait=0.05)
        requests = [np.full((1 + index % 2, 3), float(index)) for index in range(10)]
        return await asyncio.gather(*(batcher(rows) for rows in requests))

    answers = asyncio.run(scenario())
    assert calls == [15]  # one runtime call for ten requests (15 rows)
    for index, answer in enumerate(answers):
        np.testing.assert_array_equal(answer, np.full((1 + index % 2, 3), 2.0 * index))


def test_a_full_batch_runs_at_once_and_a_failure_reaches_every_caller() -> None:
    calls: list[int] = []

    def infer(rows: np.ndarray) -> np.ndarray:
        calls.append(len(rows))
        if len(rows) > 4:
            raise RuntimeError("runtime failed")
        return rows

    async def scenario() -> list[object]:
        batcher = AdaptiveBatcher(infer, max_rows=4, max_wait=10.0)  # only a full batch runs
        full = await asyncio.gather(*(batcher(np.ones((1, 2))) for _ in range(4)))
        alone = await batcher(np.ones((6, 2)))  # larger than a batch: its own call
        return [*full, alone]

    with pytest.raises(RuntimeError, match="runtime failed"):
        asyncio.run(scenario())
    assert calls == [4, 6]


async def _concurrent_answers(settings: Settings, count: int) -> list[httpx.Response]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await asyncio.sleep(0)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            for _ in range(300):
                if (await client.get("/health/ready")).status_code == 200:
                    break
                await asyncio.sleep(0.05)
            rows = [[5.1 + index / 10, 3.5, 1.4 + index / 5, 0.2] for index in range(count)]
            return list(
                await asyncio.gather(*(client.post("/predict", json={"features": r}) for r in rows))
            )


def test_batching_on_gives_the_same_answers_as_off(model_dir: Path) -> None:
    off = asyncio.run(_concurrent_answers(Settings(model_uri=str(model_dir)), 12))
    on = asyncio.run(
        _concurrent_answers(Settings(model_uri=str(model_dir), batch_max_wait_ms=20), 12)
    )
    assert [r.status_code for r in on] == [200] * 12
    for batched, alone in zip(on, off, strict=True):
        got, expected = batched.json(), alone.json()
        assert got["class_name"] == expected["class_name"]
        # The runtime's kernels for a matrix may round the last bit differently.
        assert got["probabilities"] == pytest.approx(expected["probabilities"], rel=1e-12)
