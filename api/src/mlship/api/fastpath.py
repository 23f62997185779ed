"""A numpy-only ``predict_proba`` for linear pipelines.

scikit-learn validates its input on every call, which costs far more than
the arithmetic of a small linear model (hundreds of microseconds per row).
The service has already validated the input, so for the common pipelines
(scalers followed by a logistic regression) the same computation is
compiled into a few numpy operations. A compiled function is only used
after it reproduced the estimator's own probabilities (see ``verified``);
any other estimator keeps scikit-learn's ``predict_proba``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

Proba = Callable[[np.ndarray], np.ndarray]


def _transformer(step: Any) -> Proba | None:
    name = type(step).__name__
    if name == "StandardScaler":
        mean = step.mean_ if getattr(step, "with_mean", True) else None
        scale = step.scale_ if getattr(step, "with_std", True) else None

        def standard(x: np.ndarray) -> np.ndarray:
            if mean is not None:
                x = x - mean
            if scale is not None:
                x = x / scale
            return x

        return standard
    if name == "MinMaxScaler" and not getattr(step, "clip", False):
        scale_, min_ = step.scale_, step.min_
        return lambda x: x * scale_ + min_
    if step == "passthrough" or step is None:
        return lambda x: x
    return None


def _classifier(step: Any) -> Proba | None:
    if type(step).__name__ != "LogisticRegression":
        return None
    coef = np.ascontiguousarray(step.coef_.T)
    intercept = step.intercept_
    if coef.shape[1] == 1:

        def binary(x: np.ndarray) -> np.ndarray:
            positive = 1.0 / (1.0 + np.exp(-(x @ coef + intercept)))
            return np.hstack([1.0 - positive, positive])

        return binary

    def softmax(x: np.ndarray) -> np.ndarray:
        scores: np.ndarray = x @ coef + intercept
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        return scores

    return softmax


def compile_linear(estimator: Any) -> Proba | None:
    """A numpy function equal to ``estimator.predict_proba``, or None when not supported."""
    steps = [step for _, step in getattr(estimator, "steps", [("model", estimator)])]
    *transformers, final = steps
    compiled = [_transformer(step) for step in transformers]
    classify = _classifier(final)
    if classify is None or any(function is None for function in compiled):
        return None
    chain = [function for function in compiled if function is not None]

    def predict_proba(x: np.ndarray) -> np.ndarray:
        for function in chain:
            x = function(x)
        return classify(x)

    return predict_proba


def estimator_proba(estimator: Any) -> Proba:
    """scikit-learn's own ``predict_proba`` on arrays in signature order.

    A model fitted on a DataFrame warns when given an array; the service
    passes columns in the signature's order, which is the order it was fitted with.
    """

    def predict_proba(x: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            result: np.ndarray = estimator.predict_proba(x)
        return result

    return predict_proba


def verified(estimator: Any, probe: np.ndarray) -> tuple[Proba, bool]:
    """The fastest ``predict_proba`` reproducing the estimator on ``probe``; True if compiled."""
    compiled = compile_linear(estimator)
    reference = estimator_proba(estimator)
    if compiled is None or probe.size == 0:
        return reference, False
    if np.allclose(compiled(probe), reference(probe), rtol=1e-9, atol=1e-12):
        return compiled, True
    return reference, False
