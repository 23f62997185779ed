"""Held-out metrics, the confusion matrix and the classification report of a classifier."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

# The object-oriented Figure renders with Agg without touching pyplot's global backend.
from matplotlib.figure import Figure
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
)

# Metrics the status table and job summaries show first.
KEY_METRICS: tuple[str, ...] = ("accuracy", "f1_macro", "log_loss")


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, float]
    confusion: np.ndarray
    report_text: str
    report_dict: dict[str, Any]


def evaluate(
    classifier: Any, features: pd.DataFrame, target: np.ndarray, class_names: tuple[str, ...]
) -> Evaluation:
    labels = list(range(len(class_names)))
    predicted = classifier.predict(features)
    probabilities = classifier.predict_proba(features)
    metrics: dict[str, float] = {
        "accuracy": float(accuracy_score(target, predicted)),
        "f1_macro": float(f1_score(target, predicted, average="macro", labels=labels)),
        "log_loss": float(log_loss(target, probabilities, labels=labels)),
    }
    precision = precision_score(target, predicted, average=None, labels=labels, zero_division=0)
    recall = recall_score(target, predicted, average=None, labels=labels, zero_division=0)
    for index, name in enumerate(class_names):
        metrics[f"precision_{name}"] = float(precision[index])
        metrics[f"recall_{name}"] = float(recall[index])
    names = list(class_names)
    return Evaluation(
        metrics=metrics,
        confusion=confusion_matrix(target, predicted, labels=labels),
        report_text=str(
            classification_report(
                target, predicted, labels=labels, target_names=names, zero_division=0
            )
        ),
        report_dict=dict(
            classification_report(
                target,
                predicted,
                labels=labels,
                target_names=names,
                zero_division=0,
                output_dict=True,
            )
        ),
    )


def confusion_figure(confusion: np.ndarray, class_names: tuple[str, ...]) -> Figure:
    """A labelled confusion-matrix heat map (true class in rows)."""
    figure = Figure(figsize=(4.5, 4.0), dpi=100)
    axes = figure.subplots()
    image = axes.imshow(confusion, cmap="Blues")
    figure.colorbar(image, ax=axes)
    ticks = range(len(class_names))
    axes.set_xticks(ticks, labels=class_names, rotation=30)
    axes.set_yticks(ticks, labels=class_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    threshold = confusion.max() / 2 if confusion.size else 0
    for row in ticks:
        for column in ticks:
            value = int(confusion[row, column])
            colour = "white" if value > threshold else "black"
            axes.text(column, row, str(value), ha="center", va="center", color=colour)
    axes.set_title("confusion matrix (test split)")
    figure.tight_layout()
    return figure
