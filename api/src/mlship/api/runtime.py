"""Model runtimes: ONNX Runtime for the served form, scikit-learn as a fallback extra.

A runtime is the small model contract (as MLServer's): built from the model's
files (``load``), ``predict_proba`` on a float matrix in signature order, and
``unload``. ONNX Runtime runs with one intra-op thread: a worker process is the
unit of parallelism, and a second thread per call only contends for the core.
"""

from __future__ import annotations

import pickle
import warnings
from typing import Any, Protocol

import numpy as np

from mlship.api.model_files import ArtifactError, ModelFiles


class Runtime(Protocol):
    name: str
    note: str | None  # why this runtime serves the model, when it is not the default

    def predict_proba(self, rows: np.ndarray) -> np.ndarray: ...

    def unload(self) -> None: ...


class OnnxRuntime:
    name = "onnx"
    note: str | None = None

    def __init__(self, files: ModelFiles) -> None:
        import onnxruntime  # noqa: PLC0415 (heavy; only models are loaded with it)

        serving = files.serving
        path = files.directory / str(serving.get("onnx_model", "model.onnx"))
        if not path.is_file():
            raise ArtifactError(f"the served form names {path.name}, which the model lacks")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        try:
            session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # ORT raises its own exception types
            raise ArtifactError(f"ONNX Runtime cannot load {path.name}: {error}") from None
        self._run = session.run
        self._session: Any = session
        self._input = str(serving.get("input_name", "input"))
        self._outputs = [str(serving.get("probabilities_output", "probabilities"))]
        self._dtype = np.dtype(str(serving.get("input_dtype", "float64")))

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        (probabilities,) = self._run(
            self._outputs, {self._input: rows.astype(self._dtype, copy=False)}
        )
        return np.asarray(probabilities, dtype=np.float64)

    def unload(self) -> None:
        self._session = None


class SklearnRuntime:
    """The fitted estimator itself, for a model the ONNX converter could not express."""

    name = "sklearn"

    def __init__(self, files: ModelFiles) -> None:
        self.note: str | None = str(files.serving.get("reason") or "the model has no ONNX form")
        flavor = files.flavors.get("sklearn")
        if flavor is None:
            raise ArtifactError("the model has neither an ONNX form nor an sklearn flavor")
        try:
            self._estimator = _load_estimator(files, flavor)
        except ImportError as error:
            raise ArtifactError(
                f"this model is served by scikit-learn ({self.note}), which is not installed "
                f"here ({error.name}): install mlship-api[sklearn] or retrain with an ONNX form"
            ) from None
        if not hasattr(self._estimator, "predict_proba"):
            raise ArtifactError(f"{type(self._estimator).__name__} has no predict_proba")

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():  # fitted on a DataFrame, given columns in that order
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            return np.asarray(self._estimator.predict_proba(rows), dtype=np.float64)

    def unload(self) -> None:
        self._estimator = None


def _load_estimator(files: ModelFiles, flavor: dict[str, Any]) -> Any:
    path = files.directory / str(flavor.get("pickled_model", "model.pkl"))
    serialization = flavor.get("serialization_format", "cloudpickle")
    if serialization == "skops":
        import skops.io  # type: ignore[import-untyped]  # noqa: PLC0415

        return skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
    # The registry is the trust boundary: only registered, gated models are loaded.
    with path.open("rb") as handle:
        if serialization == "cloudpickle":
            import cloudpickle  # noqa: PLC0415

            return cloudpickle.load(handle)
        if serialization == "pickle":
            return pickle.load(handle)  # noqa: S301
    raise ArtifactError(f"unknown sklearn serialization format {serialization!r}")


def load_runtime(files: ModelFiles) -> Runtime:
    """The runtime the model's served form asks for."""
    if files.serving.get("runtime") == "onnx":
        return OnnxRuntime(files)
    return SklearnRuntime(files)
