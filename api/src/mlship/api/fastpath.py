"""``predict_proba`` for linear pipelines without scikit-learn's per-call overhead.

scikit-learn validates its input on every call, which costs far more than the
arithmetic of a small linear model (hundreds of microseconds per row). The
service has already validated the input, so for the common pipelines (scalers
followed by a logistic regression) the same computation is compiled twice:
into numpy operations for batches, and into plain Python arithmetic for single
rows, where even numpy's per-call overhead outweighs a few dozen multiplications.
A compiled function is only used after it reproduced the estimator's own
probabilities (see ``verified``); any other estimator keeps scikit-learn's
``predict_proba``.
"""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

Proba = Callable[[np.ndarray], np.ndarray]
RowProba = Callable[[list[float]], list[float]]
# An element-wise step: operator.sub, truediv, mul or add with one parameter per feature.
Elementwise = tuple[Callable[[Any, Any], Any], np.ndarray]
# Above this many weights, numpy's fixed cost per call beats Python's cost per multiplication.
MAX_ROW_WEIGHTS = 256
# Compiled and reference probabilities may differ by rounding only.
RELATIVE_TOLERANCE = 1e-12


def _elementwise(step: Any) -> list[Elementwise] | None:
    """A scaler as element-wise operations, or None for any other transformer."""
    name = type(step).__name__
    if name == "StandardScaler":
        # mean_ is fitted even when with_mean is off; only the flags say what transform() does.
        steps: list[Elementwise] = []
        if step.with_mean:
            steps.append((operator.sub, step.mean_))
        if step.with_std:
            steps.append((operator.truediv, step.scale_))
        return steps
    if name == "MinMaxScaler" and not getattr(step, "clip", False):
        return [(operator.mul, step.scale_), (operator.add, step.min_)]
    if step == "passthrough" or step is None:
        return []
    return None


def _sigmoid(score: float) -> float:
    if score >= 0:
        return 1.0 / (1.0 + math.exp(-score))
    exponential = math.exp(score)  # exp(-score) would overflow for very negative scores
    return exponential / (1.0 + exponential)


class LinearPipeline:
    """Element-wise scaling followed by a logistic regression's linear scores."""

    def __init__(self, steps: list[Elementwise], coef: np.ndarray, intercept: np.ndarray) -> None:
        self.steps = steps
        self.coef = coef  # features x classes (one column for a binary model)
        self.intercept = intercept
        # For single rows the scaling is folded into the weights, as Python floats:
        # w . (a*x + c) + b = (w*a) . x + (w . c + b).
        slope, offset = np.ones(coef.shape[0]), np.zeros(coef.shape[0])
        for op, parameter in steps:
            if op in (operator.sub, operator.add):  # shifts the offset only
                offset = op(offset, parameter)
            else:  # scales both
                slope, offset = op(slope, parameter), op(offset, parameter)
        self.row_scores: list[tuple[list[float], float]] = list(
            zip((coef.T * slope).tolist(), (offset @ coef + intercept).tolist(), strict=True)
        )

    @property
    def weight_count(self) -> int:
        return int(self.coef.size)

    def proba(self, x: np.ndarray) -> np.ndarray:
        for op, parameter in self.steps:
            x = op(x, parameter)
        scores: np.ndarray = x @ self.coef + self.intercept
        if self.coef.shape[1] == 1:
            positive = 1.0 / (1.0 + np.exp(-scores))
            return np.hstack([1.0 - positive, positive])
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        return scores

    def proba_row(self, row: list[float]) -> list[float]:
        # Loops rather than comprehensions: before Python 3.12 each comprehension is a
        # function call, which costs more than its few multiplications.
        mul, exp = operator.mul, math.exp
        scores = []
        for weights, bias in self.row_scores:
            scores.append(bias + sum(map(mul, weights, row)))
        if len(scores) == 1:
            positive = _sigmoid(scores[0])
            return [1.0 - positive, positive]
        top = max(scores)
        exponentials = []
        for score in scores:
            exponentials.append(exp(score - top))
        total = sum(exponentials)
        probabilities = []
        for value in exponentials:
            probabilities.append(value / total)
        return probabilities


def linear_pipeline(estimator: Any) -> LinearPipeline | None:
    """The compiled form of ``estimator``, or None when it is not a supported pipeline."""
    steps = [step for _, step in getattr(estimator, "steps", [("model", estimator)])]
    *transformers, final = steps
    if type(final).__name__ != "LogisticRegression":
        return None
    elementwise: list[Elementwise] = []
    for transformer in transformers:
        compiled = _elementwise(transformer)
        if compiled is None:
            return None
        elementwise += compiled
    coef = np.ascontiguousarray(final.coef_.T, dtype=np.float64)
    return LinearPipeline(elementwise, coef, np.asarray(final.intercept_, dtype=np.float64))


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


def rows_through(proba: Proba) -> RowProba:
    """A single-row function calling a matrix function."""
    return lambda row: proba(np.array([row], dtype=np.float64))[0].tolist()


def _reproduces(candidate: np.ndarray, reference: np.ndarray) -> bool:
    return candidate.shape == reference.shape and bool(
        np.allclose(candidate, reference, rtol=RELATIVE_TOLERANCE, atol=0.0)
    )


def verified(estimator: Any, probe: np.ndarray) -> tuple[Proba, RowProba, bool]:
    """The fastest matrix and single-row functions reproducing the estimator on ``probe``.

    The flag says whether the compiled pipeline is used; without it, or when it
    does not reproduce the estimator, both go through scikit-learn.
    """
    reference = estimator_proba(estimator)
    compiled = linear_pipeline(estimator)
    if compiled is None or probe.size == 0:
        return reference, rows_through(reference), False
    expected = reference(probe)
    if not _reproduces(compiled.proba(probe), expected):
        return reference, rows_through(reference), False
    if compiled.weight_count > MAX_ROW_WEIGHTS:
        return compiled.proba, rows_through(compiled.proba), True
    by_row = np.array([compiled.proba_row(row) for row in probe.tolist()])
    row_function = compiled.proba_row if _reproduces(by_row, expected) else None
    return compiled.proba, row_function or rows_through(compiled.proba), True
