"""The served form of a model: an ONNX file beside the MLflow scikit-learn flavor.

The API serves ``model.onnx`` with ONNX Runtime, so its image needs no scikit-learn or
SciPy; scikit-learn serves only a model the converter cannot handle. What the API
needs to know is recorded as ``metadata.serving`` in the MLmodel file, written here
for training and the test helpers alike, and ``parity`` is what the gate checks.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from mlflow.models import Model
from numpy.typing import ArrayLike
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

from mlship.model.errors import MlshipError
from mlship.model.thresholds import DEFAULT_PARITY_TOLERANCES

ONNX_FILE = "model.onnx"
MLMODEL = "MLmodel"
INPUT_NAME = "input"
PROBABILITIES_OUTPUT = "probabilities"
# Tried in this order. Double keeps the pipeline's arithmetic; tree ensembles compare
# float32 thresholds, so their faithful (and often only loadable) form is float32.
_TENSOR_TYPES = {"float64": DoubleTensorType, "float32": FloatTensorType}
# How far a form may be from scikit-learn on the sample rows before the next dtype is
# tried: the gate policy's defaults, so a form training keeps passes the default gate.
EXPORT_TOLERANCES = DEFAULT_PARITY_TOLERANCES


class ServedFormError(MlshipError):
    """The model directory cannot be read or written, or breaks the metadata contract."""


@dataclass(frozen=True)
class Parity:
    """How the ONNX form's probabilities compare with scikit-learn's, row by row."""

    rows: int
    disagreeing_rows: tuple[int, ...]  # rows whose most probable class differs
    max_abs_diff: float

    def within(self, tolerance: float) -> bool:
        return not self.disagreeing_rows and self.max_abs_diff <= tolerance

    def summary(self) -> str:
        shown = ", ".join(str(row) for row in self.disagreeing_rows[:5])
        more = ", ..." if len(self.disagreeing_rows) > 5 else ""
        argmax = f"; other class on rows {shown}{more}" if self.disagreeing_rows else ""
        return (
            f"{len(self.disagreeing_rows)} of {self.rows} rows differ in class, "
            f"max |p_onnx - p_sklearn| {self.max_abs_diff:.3g}{argmax}"
        )


def compare(expected: Any, got: Any) -> Parity:
    """Parity of two probability matrices (rows x classes); ValueError if shapes differ."""
    expected = np.asarray(expected, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    if got.shape != expected.shape:
        raise ValueError(f"ONNX probabilities of shape {got.shape}, not {expected.shape}")
    rows = int(expected.shape[0])
    if rows == 0:
        return Parity(0, (), 0.0)
    differ = np.flatnonzero(expected.argmax(axis=1) != got.argmax(axis=1))
    return Parity(rows, tuple(int(row) for row in differ), float(np.abs(expected - got).max()))


def converter() -> str:
    return f"skl2onnx=={installed_version('skl2onnx')}"


def open_session(source: Path | bytes) -> ort.InferenceSession:
    """An ONNX Runtime session on one thread, the way the API runs a model per worker."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    model = str(source) if isinstance(source, Path) else source
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def onnx_probabilities(session: ort.InferenceSession, features: ArrayLike, dtype: str) -> Any:
    """The ``probabilities`` output for ``features`` fed as ``dtype``."""
    rows = np.asarray(features, dtype=np.dtype(dtype))
    return session.run([PROBABILITIES_OUTPUT], {INPUT_NAME: rows})[0]


def parity(
    estimator: Any, session: ort.InferenceSession, features: Any, input_dtype: str
) -> Parity:
    """Compare the ONNX form with ``estimator.predict_proba`` on every row of ``features``."""
    expected = np.asarray(estimator.predict_proba(features), dtype=np.float64)
    return compare(expected, onnx_probabilities(session, features, input_dtype))


def one_line(error: BaseException) -> str:
    """``Type: first line`` (bounded), with the cause when the message hides it."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0][:160] if lines else ''}".rstrip(": ")
    cause = error.__cause__
    return f"{text} (caused by {one_line(cause)})" if cause is not None else text


def _convert(estimator: Any, n_features: int, dtype: str) -> bytes:
    tensor = _TENSOR_TYPES[dtype]([None, n_features])
    onnx_model = convert_sklearn(
        estimator, initial_types=[(INPUT_NAME, tensor)], options={"zipmap": False}
    )
    return bytes(onnx_model.SerializeToString())


def _try_form(
    estimator: Any, n_features: int, dtype: str, sample: Any | None
) -> tuple[bytes | None, str]:
    """The ONNX bytes for ``dtype``, or None and why not (converter, runtime or parity)."""
    try:
        data = _convert(estimator, n_features, dtype)
        session = open_session(data)
        with warnings.catch_warnings():
            # Without a sample, a zero row probes the outputs: it has no feature names.
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            rows = np.zeros((1, n_features)) if sample is None else sample
            found = parity(estimator, session, rows, dtype)
    except Exception as error:  # any converter or runtime failure means "not this dtype"
        return None, one_line(error)
    if sample is not None and not found.within(EXPORT_TOLERANCES[dtype]):
        return None, f"disagrees with scikit-learn on the sample ({found.summary()})"
    return data, ""


def _reason(failures: dict[str, str]) -> str:
    """One line: each distinct failure once, after the dtypes that met it."""
    by_message: dict[str, list[str]] = {}
    for dtype, message in failures.items():
        by_message.setdefault(message, []).append(dtype)
    parts = [f"{', '.join(dtypes)}: {message}" for message, dtypes in by_message.items()]
    return "no ONNX form (" + "; ".join(parts) + ")"


def _require_class_order(estimator: Any, class_names: list[str] | None) -> None:
    """``probabilities`` columns follow ``classes_``; the API names them by ``class_names``."""
    classes = np.asarray(getattr(estimator, "classes_", []))
    if class_names is not None and classes.tolist() != list(range(len(class_names))):
        raise ServedFormError(
            f"classes_ {classes.tolist()} are not the indices of class_names {class_names}: "
            "probability columns would be named wrongly"
        )


def add_served_form(
    model_dir: Path, estimator: Any, n_features: int, *, sample: Any | None = None
) -> dict[str, Any]:
    """Write ``model.onnx`` into ``model_dir`` and record ``metadata.serving``; return it.

    ``model_dir`` is what ``mlflow.sklearn.save_model`` wrote. ``sample`` (rows of
    features) is optional: when given, a form must also agree with scikit-learn on it,
    so a forest whose float64 form rounds differently is served in float32. A model no
    form fits is recorded as served by scikit-learn with the reason; I/O problems and
    a broken class order raise ``ServedFormError``.
    """
    mlmodel_path = model_dir / MLMODEL
    try:
        mlmodel = Model.load(str(mlmodel_path))
    except Exception as error:  # MLflow raises several types for a missing or bad file
        raise ServedFormError(f"cannot read {mlmodel_path}: {one_line(error)}") from None
    metadata = dict(mlmodel.metadata or {})
    _require_class_order(estimator, metadata.get("class_names"))
    onnx_path = model_dir / ONNX_FILE
    failures: dict[str, str] = {}
    serving: dict[str, Any] = {}
    for dtype in _TENSOR_TYPES:
        data, why = _try_form(estimator, n_features, dtype, sample)
        if data is None:
            failures[dtype] = why
            continue
        _write(onnx_path, data)
        serving = {"runtime": "onnx", "onnx_model": ONNX_FILE, "input_dtype": dtype}
        break
    else:
        onnx_path.unlink(missing_ok=True)
        serving = {"runtime": "sklearn", "input_dtype": "float64"}
        serving["reason"] = _reason(failures)
    serving = {
        **serving,
        "input_name": INPUT_NAME,
        "probabilities_output": PROBABILITIES_OUTPUT,
        "converter": converter(),
    }
    mlmodel.metadata = {**metadata, "serving": serving}
    _write(mlmodel_path, mlmodel.to_yaml().encode("utf-8"))
    return serving


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as error:
        raise ServedFormError(f"cannot write {path}: {error.strerror or error}") from None


def serving_metadata(model_dir: Path) -> dict[str, Any] | None:
    """``metadata.serving`` of the model in ``model_dir``; None when it has none."""
    try:
        mlmodel = Model.load(str(model_dir / MLMODEL))
    except Exception as error:
        raise ServedFormError(f"cannot read {model_dir / MLMODEL}: {one_line(error)}") from None
    serving = (mlmodel.metadata or {}).get("serving")
    return serving if isinstance(serving, dict) else None
