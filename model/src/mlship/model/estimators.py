"""scikit-learn estimators named in a specification, and the pipeline built from them."""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

from sklearn.base import BaseEstimator, is_classifier
from sklearn.pipeline import Pipeline

# Only scikit-learn's own classes: a specification is data, and importing arbitrary
# modules named in a data file would run whatever code they hold.
_SKLEARN_PATH = re.compile(r"^sklearn(\.[A-Za-z_][A-Za-z0-9_]*)+$")


def estimator_class(path: str) -> type[BaseEstimator]:
    """The class ``sklearn.module.Name``; ValueError saying why it is not usable."""
    if not _SKLEARN_PATH.match(path):
        raise ValueError(f"{path!r} is not a scikit-learn class path such as 'sklearn.svm.SVC'")
    module_name, _, class_name = path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        raise ValueError(f"scikit-learn has no {path!r}") from None
    if not (inspect.isclass(found) and issubclass(found, BaseEstimator)):
        raise ValueError(f"{path!r} is not a scikit-learn estimator class")
    return found


def check_params(cls: type[BaseEstimator], params: dict[str, Any]) -> None:
    """ValueError naming the parameters ``cls`` does not take."""
    accepted = set(cls().get_params(deep=False))
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ValueError(
            f"{cls.__name__} takes no parameter {', '.join(unknown)} "
            f"(it takes {', '.join(sorted(accepted))})"
        )


def is_classifier_class(cls: type[BaseEstimator]) -> bool:
    return bool(is_classifier(cls()))


def build_pipeline(steps: list[tuple[str, str, dict[str, Any]]], seed: int) -> Pipeline:
    """A ``Pipeline`` of ``(name, class path, params)``; ``random_state`` defaults to ``seed``.

    Seeding every estimator that takes a ``random_state`` makes training deterministic,
    which the gate's regression check relies on (an unchanged retrain scores the same).
    """
    built = []
    for name, path, params in steps:
        cls = estimator_class(path)
        arguments = dict(params)
        if "random_state" in cls().get_params(deep=False):
            arguments.setdefault("random_state", seed)
        built.append((name, cls(**arguments)))
    return Pipeline(built)
