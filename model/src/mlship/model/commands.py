"""The ``mlship`` subcommands: call the lifecycle functions and print their results."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from mlflow.exceptions import MlflowException

from mlship.model.connection import ui_url
from mlship.model.errors import GateFailedError, MlshipError
from mlship.model.prediction import predict
from mlship.model.registry import promote, rollback, status, status_table
from mlship.model.settings import Settings
from mlship.model.thresholds import load_thresholds
from mlship.model.training import train_and_register
from mlship.model.validation import validate


def _print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, sort_keys=True))


def _train(settings: Settings, arguments: argparse.Namespace) -> None:
    result = train_and_register(settings)
    if getattr(arguments, "json", False):
        _print_json(asdict(result))
        return
    metrics = "  ".join(
        f"{key} {result.metrics[key]:.4f}" for key in ("accuracy", "f1_macro", "log_loss")
    )
    print(f"registered {result.model_name} version {result.version} (run {result.run_id})")
    print(f"  {metrics}")
    print(f"  data sha256 {result.data_sha256[:16]}  git {result.git_sha[:12]}")
    print(f"  {ui_url(settings, result.model_name, result.version)}")


def _validate(settings: Settings, arguments: argparse.Namespace) -> None:
    policy = load_thresholds(getattr(arguments, "thresholds", None))
    report = validate(
        settings,
        policy,
        getattr(arguments, "version", None),
        getattr(arguments, "report_dir", None),
    )
    if getattr(arguments, "json", False):
        _print_json(report.to_dict())
    else:
        print(report.to_markdown())
    if not report.passed:
        failing = ", ".join(check.name for check in report.failing)
        raise GateFailedError(
            f"version {report.version} of {report.model_name!r} failed the gate: {failing}; "
            "aliases unchanged"
        )
    if not getattr(arguments, "json", False):
        print(f"version {report.version} is now the challenger")


def _move(action: Callable[[], Any], arguments: argparse.Namespace) -> None:
    move = action()
    if getattr(arguments, "json", False):
        _print_json(asdict(move))
    else:
        print(move.message)


def _promote(settings: Settings, arguments: argparse.Namespace) -> None:
    _move(lambda: promote(settings, getattr(arguments, "version", None)), arguments)


def _rollback(settings: Settings, arguments: argparse.Namespace) -> None:
    _move(lambda: rollback(settings), arguments)


def _status(settings: Settings, arguments: argparse.Namespace) -> None:
    document = status(settings, limit=arguments.limit)
    if getattr(arguments, "json", False):
        _print_json(document)
    else:
        print(status_table(document))


def _predict(settings: Settings, arguments: argparse.Namespace) -> None:
    result = predict(settings, arguments.features, alias=arguments.alias)
    if getattr(arguments, "json", False):
        _print_json(asdict(result))
        return
    probabilities = ", ".join(f"{name} {value:.3f}" for name, value in result.probabilities.items())
    features = " ".join(f"{name}={value:g}" for name, value in result.features.items())
    print(f"model:         {result.model_uri} (version {result.version})")
    print(f"input:         {features}")
    print(f"prediction:    {result.class_name}")
    print(f"probabilities: {probabilities}")
    print(f"MLflow UI:     {result.ui_url}")


_COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], None]] = {
    "train": _train,
    "validate": _validate,
    "promote": _promote,
    "rollback": _rollback,
    "status": _status,
    "predict": _predict,
}


def run(settings: Settings, arguments: argparse.Namespace) -> None:
    """Run the chosen subcommand; MLflow's own errors become one-line errors."""
    try:
        _COMMANDS[arguments.command](settings, arguments)
    except MlflowException as error:
        first_line = (error.message or str(error)).strip().splitlines()[0]
        raise MlshipError(f"MLflow ({settings.tracking_uri}): {first_line}") from None
